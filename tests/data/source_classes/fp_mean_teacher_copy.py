# A mean teacher: a deep copy of the student, run under no_grad inside the
# student's training loop and updated by EMA -- in training mode on purpose
# (Mean Teacher; BYOL/MoCo momentum encoders), not an inference. (Found in
# review of this round's deepcopy change.)
import copy
import torch
import torch.nn.functional as F
import torchvision

def update_ema(ema, model, decay):
    with torch.no_grad():
        for e, m in zip(ema.parameters(), model.parameters()):
            e.mul_(decay).add_(m, alpha=1 - decay)

def main(loader, epochs):
    student = torchvision.models.resnet18(num_classes=10)
    teacher = copy.deepcopy(student)
    for p in teacher.parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    for epoch in range(epochs):
        student.train()
        for x_l, y, x_u in loader:
            with torch.no_grad():
                pseudo = teacher(x_u).softmax(1)
            loss = F.cross_entropy(student(x_l), y) + F.mse_loss(student(x_u).softmax(1), pseudo)
            opt.zero_grad()
            loss.backward()
            opt.step()
            update_ema(teacher, student, 0.99)

main([], 1)
