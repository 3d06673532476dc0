class ConfigParser:
    def __init__(self, config):
        self.config = config

    @classmethod
    def from_args(cls, args):
        return cls(vars(args))

    def __getitem__(self, name):
        return self.config[name]

    def init_obj(self, name, module, *args, **kwargs):
        module_name = self[name]['type']
        module_args = dict(self[name]['args'])
        module_args.update(kwargs)
        return getattr(module, module_name)(*args, **module_args)
