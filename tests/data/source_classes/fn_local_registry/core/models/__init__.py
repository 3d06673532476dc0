from .model_zoo import get_segmentation_model
