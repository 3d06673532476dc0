from .base_model import *
