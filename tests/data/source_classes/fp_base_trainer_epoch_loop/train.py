from models import mlp
from trainer import Trainer

if __name__ == "__main__":
    Trainer(mlp(), [], [], 5).train()
