"""The model side: the process manager (:mod:`.process`, the parent, torch-free)
runs the worker (:mod:`.worker`, the child: imports the user's file and builds
its models on the meta device); each model is traced (:mod:`.trace`: torch.fx,
piece by piece where it must), wrapped in the graph the rules query
(:mod:`.graph`), given input shapes from a run on meta tensors
(:mod:`.shapes`) and construction lines (:mod:`.sites`), and handed to the
rules as a :class:`.context.ModelContext`. :mod:`.layers` is the layer
taxonomy the rules share. Importing this package imports no torch."""
