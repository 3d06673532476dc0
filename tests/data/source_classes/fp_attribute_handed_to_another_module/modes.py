def set_eval(*nets):
    for net in nets:
        net.eval()
