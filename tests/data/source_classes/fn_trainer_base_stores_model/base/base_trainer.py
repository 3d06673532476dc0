class BaseTrainer:
    def __init__(self, model, loss, config):
        self.model = model
        self.loss = loss
        self.config = config
