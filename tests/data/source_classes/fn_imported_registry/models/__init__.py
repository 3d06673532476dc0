from .nets import resnet8, vgg8_bn

model_dict = {
    "resnet8": resnet8,
    "vgg8": vgg8_bn,
}
