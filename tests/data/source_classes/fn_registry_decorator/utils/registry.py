class Registry:
    def __init__(self, name):
        self._name = name
        self._obj_map = {}

    def register(self, obj=None):
        def deco(cls):
            self._obj_map[cls.__name__] = cls
            return cls
        return deco if obj is None else deco(obj)

    def get(self, name):
        return self._obj_map[name]
