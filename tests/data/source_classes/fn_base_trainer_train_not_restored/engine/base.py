# A base engine whose fit() alternates the subclass's epochs (after
# victoresque/pytorch-template): train_epoch() of the subclass never calls
# self.net.train(), so after the first validate_epoch() every epoch trains
# in eval mode.
class Engine:
    def __init__(self, net, optimizer, loaders, epochs):
        self.net, self.optimizer = net, optimizer
        self.train_loader, self.val_loader = loaders
        self.epochs = epochs

    def fit(self):
        history = []
        for epoch in range(self.epochs):
            history.append(self.train_epoch(epoch))
            history.append(self.validate_epoch(epoch))
        return history
