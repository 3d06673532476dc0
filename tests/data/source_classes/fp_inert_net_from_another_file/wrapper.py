# The same networks held by a class, moved to the device as they are built
# (InsightFace's mtcnn.py): self.pnet is a PNet still, with nothing mode-dependent.
from nets import ONet, PNet
from stage import run_stage


class MTCNN:
    def __init__(self, device):
        self.pnet = PNet().to(device)
        self.onet = ONet().to(device)
        self.onet.eval()

    def detect(self, image):
        return self.onet(run_stage(image, self.pnet))
