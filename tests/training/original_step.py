"""A direct transcription of the authors' training step (``modules/model.py``: ``GeneratorFullModel``,
``DiscriminatorFullModel``, and the loop body of ``train.py``), on our networks.

It is the reference the tests compare ``fomm.training`` against, and the naive baseline of
``benchmarks/train_step.py``: VGG-19 at full depth on generated and real frames separately, both with
autograd, ``torch.inverse`` for the jacobians, discriminator gradients computed in the generator step
and thrown away, the image pyramids computed again for the discriminator.
"""

from __future__ import annotations

import torch
from torch import nn

from fomm.config import TrainParams
from fomm.models import ImagePyramid
from fomm.training.transforms import Transform


class OriginalGeneratorFullModel(nn.Module):
    def __init__(self, kp_extractor, generator, discriminator, train_params: TrainParams, vgg, align_corners=True):
        super().__init__()
        self.kp_extractor = kp_extractor
        self.generator = generator
        self.discriminator = discriminator
        self.train_params = train_params
        self.scales = train_params.scales
        self.disc_scales = discriminator.scales
        self.pyramid = ImagePyramid(self.scales, 3)
        self.loss_weights = train_params.loss_weights
        self.vgg = vgg
        self.align_corners = align_corners

    def forward(self, x):
        kp_source = self.kp_extractor(x["source"])
        kp_driving = self.kp_extractor(x["driving"])
        generated = self.generator(x["source"], kp_source=kp_source, kp_driving=kp_driving)
        loss_values = {}
        pyramide_real = self.pyramid(x["driving"])
        pyramide_generated = self.pyramid(generated.prediction)
        w = self.loss_weights

        if sum(w.perceptual) != 0:
            value_total = 0
            for scale in self.scales:
                x_vgg = self.vgg(pyramide_generated[scale])
                y_vgg = self.vgg(pyramide_real[scale])
                for i, weight in enumerate(w.perceptual):
                    value = torch.abs(x_vgg[i] - y_vgg[i].detach()).mean()
                    value_total += weight * value
            loss_values["perceptual"] = value_total

        if w.generator_gan != 0:
            kp = kp_driving.value.detach()
            discriminator_maps_generated = self.discriminator(pyramide_generated, kp)
            discriminator_maps_real = self.discriminator(pyramide_real, kp)
            value_total = 0
            for scale in self.disc_scales:
                value = ((1 - discriminator_maps_generated[scale].prediction_map) ** 2).mean()
                value_total += w.generator_gan * value
            loss_values["gen_gan"] = value_total
            if sum(w.feature_matching) != 0:
                value_total = 0
                for scale in self.disc_scales:
                    real, gen = discriminator_maps_real[scale], discriminator_maps_generated[scale]
                    for i, (a, b) in enumerate(zip(real.feature_maps, gen.feature_maps, strict=True)):
                        if w.feature_matching[i] == 0:
                            continue
                        value_total += w.feature_matching[i] * torch.abs(a - b).mean()
                loss_values["feature_matching"] = value_total

        if (w.equivariance_value + w.equivariance_jacobian) != 0:
            tp = self.train_params.transform_params
            transform = Transform(x["driving"].shape[0], tp.sigma_affine, tp.sigma_tps, tp.points_tps,
                                  align_corners=self.align_corners)
            transformed_frame = transform.transform_frame(x["driving"])
            transformed_kp = self.kp_extractor(transformed_frame)
            if w.equivariance_value != 0:
                value = torch.abs(kp_driving.value - transform.warp_coordinates(transformed_kp.value)).mean()
                loss_values["equivariance_value"] = w.equivariance_value * value
            if w.equivariance_jacobian != 0:
                jacobian_transformed = torch.matmul(transform.jacobian(transformed_kp.value), transformed_kp.jacobian)
                normed_driving = torch.inverse(kp_driving.jacobian)
                value = torch.matmul(normed_driving, jacobian_transformed)
                eye = torch.eye(2).view(1, 1, 2, 2).type(value.type())
                loss_values["equivariance_jacobian"] = w.equivariance_jacobian * torch.abs(eye - value).mean()
        generated.kp_driving = kp_driving
        return loss_values, generated


class OriginalDiscriminatorFullModel(nn.Module):
    def __init__(self, discriminator, train_params: TrainParams):
        super().__init__()
        self.discriminator = discriminator
        self.scales = discriminator.scales
        self.pyramid = ImagePyramid(train_params.scales, 3)
        self.loss_weights = train_params.loss_weights

    def forward(self, x, generated):
        pyramide_real = self.pyramid(x["driving"])
        pyramide_generated = self.pyramid(generated.prediction.detach())
        kp = generated.kp_driving.value.detach()
        discriminator_maps_generated = self.discriminator(pyramide_generated, kp)
        discriminator_maps_real = self.discriminator(pyramide_real, kp)
        value_total = 0
        for scale in self.scales:
            value = (1 - discriminator_maps_real[scale].prediction_map) ** 2 \
                + discriminator_maps_generated[scale].prediction_map ** 2
            value_total += self.loss_weights.discriminator_gan * value.mean()
        return {"disc_gan": value_total}


def original_step(generator_full, discriminator_full, optimizers, x, gan: bool) -> dict[str, torch.Tensor]:
    """The loop body of the authors' ``train.py``."""
    losses_generator, generated = generator_full(x)
    loss = sum(val.mean() for val in losses_generator.values())
    loss.backward()
    optimizers["generator"].step()
    optimizers["generator"].zero_grad()
    optimizers["kp_detector"].step()
    optimizers["kp_detector"].zero_grad()
    if gan:
        optimizers["discriminator"].zero_grad()
        losses_discriminator = discriminator_full(x, generated)
        sum(val.mean() for val in losses_discriminator.values()).backward()
        optimizers["discriminator"].step()
        optimizers["discriminator"].zero_grad()
        losses_generator.update(losses_discriminator)
    return {k: v.detach() for k, v in losses_generator.items()}

