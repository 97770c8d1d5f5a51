"""Datasets (digits, CIFAR-10/100, Tiny ImageNet) and the device-resident loader."""
from scatnet.data.datamodule import DeviceDataModule
from scatnet.data.device_loader import DeviceLoader
from scatnet.data.imageset import ImageSet

__all__ = ["DeviceDataModule", "DeviceLoader", "ImageSet"]
