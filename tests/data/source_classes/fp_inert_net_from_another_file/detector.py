# TreB1eN/InsightFace_Pytorch mtcnn: run_first_stage(image, pnet) of another
# file runs pnet under no_grad without eval(); pnet = PNet() has no layer
# that depends on the mode (the ONet, which has Dropout, is put in eval()).
from nets import ONet, PNet
from stage import run_stage


def detect(image):
    pnet = PNet()
    onet = ONet()
    onet.eval()
    boxes = run_stage(image, pnet)
    return onet(boxes)
