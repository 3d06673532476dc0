import torchvision

class ModelBuilder:
    @staticmethod
    def build_encoder():
        return torchvision.models.resnet18()

