from trainer import Net, Trainer


def main(train_loader, val_loader):
    trainer = Trainer(Net())
    for epoch in range(10):
        trainer.train(train_loader)
        trainer.validate(val_loader)
