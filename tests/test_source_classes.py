"""The classes of false alarms and misses of issue 13, each a reproduction
under tests/data/source_classes/: false alarms (fp_*) are clean, misses within
the rules' promise (fn_*) are reported, with what each fn_* pins."""

import os

import pytest

from bnlint.api import check_paths, check_source
from bnlint.config import Config

HERE = os.path.join(os.path.dirname(__file__), "data", "source_classes")

SOURCE_CODES = ("BN203", "BN401", "BN402", "BN403", "BN404")


def reported(rel: str) -> set[str]:
    """What the source rules report on one file -- or, for a directory, on
    all of it in one run (`file:code:line`), where one file's calls of
    another's functions are seen from both sides."""
    path = os.path.join(HERE, rel)
    if os.path.isdir(path):
        run = check_paths([path], Config(static=True))
        return {f"{os.path.relpath(f.path, path)}:{f.code}:{f.line}" for f in run.findings if f.code in SOURCE_CODES}
    return {f"{f.code}:{f.line}" for f in check_source(path) if f.code in SOURCE_CODES}


@pytest.mark.parametrize("rel", [
    "fp_deliberate_train_forward.py",  # label guessing under no_grad in the training step's loop
    "fp_branch_correlation.py",  # freeze and eval() under the same condition
    "fp_frozen_but_not_trained.py",  # the steps train another model
    "fp_lstm_without_dropout.py",  # nn.LSTM without dropout= is mode-independent
    "fp_loss_module/train.py",  # a loss module whose forward calls a helper of another module
    "fp_upsampling_layer.py",  # nn.UpsamplingBilinear2d is mode-independent
    "fp_helper_trains_only_with_optimizer.py",  # run_epoch(model, loader, None) steps nothing (held-out)
    "fp_lstm_cell.py",  # nn.LSTMCell has no dropout (held-out)
    "fp_method_named_like_submodule.py",  # m.print_network(): a method, not a submodule's forward
    "fp_wrapper_of_evaled_net.py",  # Wrap(net.eval()): the wrapper holds nothing of its own
    "fp_wrapper_with_constants.py",  # ... and its Parameters and F.dropout(training=False) are no layers
    "fp_metric_modules_from_a_tuple.py",  # numpy and exceptions build no layer (held-out)
    "fp_deepcopy_of_an_eval_model.py",  # a copy of a model in eval() is in eval
    "fp_activation_given_to_a_module.py",  # MLP(16, F.relu): the function it is given holds nothing
    "fp_mean_teacher_copy.py",  # teacher = deepcopy(student), run in the student's training loop
    "fp_models_in_a_list.py",  # [net.eval() for net in nets]: each model of the list in eval
    "fp_helper_with_dropout_off.py",  # a helper's F.dropout(training=False) is off in either mode
    "fp_helper_evaluates_a_copy.py",  # model = deepcopy(model) in a helper: its modes are the copy's
    "fp_inert_net_from_another_file",  # run_stage(image, pnet) of detector.py: PNet has no BN/Dropout
    "fp_model_or_unknown_in_branches.py",  # if: a module / else: something unknown -- not that module
    "fp_inert_attribute_of_attributes.py",  # self.blur = nn.Sequential(pad, self.blur_h, self.blur_v)
    "fp_attribute_handed_to_another_module",  # set_eval(self.onet) of another module, by *args
    "fp_models_held_by_key.py",  # self.models["pose"].eval(): one model of the dict, the others keep theirs
    "fp_predict_named_helper_of_a_training_step.py",  # predict_poses() called by the training step
    "fp_base_trainer_epoch_loop",  # a base trainer's epoch loop, its subclass switching modes right
    "fp_trainer_object_without_batchnorm.py",  # trainer.validate() on a model with no BN/Dropout
    "fp_trainer_steps_under_a_flag",  # validate(): forward(training=False), the steps under `if training`
    "fp_shape_check_in_main_block.py",  # net = Net(); with no_grad: print(net(torch.rand(...)).shape)
    "fp_evaluation_closure_after_eval.py",  # model.eval() before the closure is made and handed over
    "fp_decoder_function_beside_a_model.py",  # evaluate(model, decoder=None): model.eval(); decoder(out) (fresh round)
    "fp_context_manager_restores_the_mode.py",  # with inference_context(model): eval() before the yield, train(was) after
    "fp_freeze_bn_loop.py",  # for m in model.modules(): m.eval() on the BNs -- a part of the model, not the model
    "fp_unpickled_model_evaluated.py",  # model = torch.load(f), evaluate() with its eval(); a resumed model exported after eval()
    "fp_eval_setting_of_a_loss.py",  # eval(CONFIG.LOSS.NAME)(): a setting that does not name the model builds none known
])
def test_false_alarm_classes_are_clean(rel):
    assert reported(rel) == set()


@pytest.mark.parametrize("rel, expected", [
    ("fn_text_prefilter.py", {"BN402:5"}),  # no text pre-filter
    ("fn_alias_in_branch.py", {"BN403:22"}),  # test_model = ema if use_ema else model
    ("fn_package_import_darknet/tool/darknet2onnx.py", {"BN404:7"}),  # a package import from inside it
    ("fn_factory_function_export/e1.py", {"BN404:5"}),  # a factory of another module
    ("fn_getattr_model/main.py", {"BN402:11"}),  # getattr(models, MODEL)() on the tree's package
    ("fn_getattr_model/main_direct.py", {"BN402:11"}),
    ("fn_freeze_helper/train_cross_module.py", {"BN401:6"}),  # a freeze helper of another module
    ("fn_freeze_helper/train_submodule_arg.py", {"BN401:9"}),  # a helper given a submodule
    ("fn_dynamic_builder.py", {"BN401:10"}),  # models.__dict__[arch]() on torchvision
    ("fn_train_then_validation_loader.py", {"BN402:18"}),  # train() then a validation loop under no_grad
    ("fn_lstm_with_dropout.py", {"BN402:19"}),  # nn.LSTM(dropout=0.3) is mode-dependent
    ("fn_staticmethod_builder.py", {"BN402:20"}),  # ModelBuilder.build_encoder(), a static method
    ("fn_imported_staticmethod/main.py", {"BN402:10"}),  # ... of a class imported from another module
    ("fn_wrapper_of_ctor_args.py", {"BN402:24"}),  # SegModule(enc): holds what it is given
    ("fn_factory_registry.py", {"BN402:20"}),  # __model_factory[name](): a module-level registry
    ("fn_tuple_builder.py", {"BN402:22"}),  # model, classifier = set_model()
    ("fn_model_given_its_backbone.py", {"BN404:29"}),  # holds the backbone it is given (in a dict)
    ("fn_deepcopy_model.py", {"BN404:12"}),  # ema = deepcopy(model): another model, in its mode
    ("fn_trace_submodule.py", {"BN404:21"}),  # torch.jit.trace(model.layer1, x)
    ("fn_models_in_a_list.py", {"BN401:24", "BN402:33"}),  # nets = [Net(), Net(bn=True)], looped over
    # a probe's train() without eval(): validate()'s eval() comes after the first epoch (and
    # the later epochs' eval-mode training is what a probe wants: no BN403)
    ("fn_probe_trained_in_train_mode_first.py", {"BN401:26"}),
    ("fn_imported_registry/train.py", {"BN401:25"}),  # model_dict[arch]() of models/__init__.py
    ("fn_registry_of_pairs.py", {"BN401:30"}),  # model_fun, dim_in = model_dict[name]: a table of pairs
    ("fn_attribute_model_moved_to_device.py", {"BN402:24"}),  # self.onet = ONet().to(device)
    ("fn_model_bound_in_elif_chain.py", {"BN402:30"}),  # if ...: cnn = A() / elif ...: cnn = B(), no else
    ("fn_base_class_from_sibling_package/inference.py", {"BN402:13"}),  # class PSPNet(BaseModel), base/ a package
    ("fn_builder_function_in_init/train.py", {"BN401:28"}),  # self.backbone = darknet53(): BatchNorm via builders
    ("fn_attribute_run_through_own_method.py", {"BN402:28"}),  # self.detect_faces() is no hand-over of self.onet
    ("fn_models_held_by_key.py", {"BN403:40"}),  # self.models["encoder"] = ...; for m in self.models.values()
    ("fn_models_in_a_dict.py", {"BN402:19"}),  # nets = {"G": Generator(), "D": ...}; nets["G"](z)
    # class Trainer(BaseTrainer) of another file, whose epoch loop calls self._valid_epoch()
    ("fn_base_trainer_epoch_loop", {"trainer.py:BN402:19"}),
    # ... whose epoch loop (engine/base.py) reaches train_epoch() again after validate_epoch()'s eval()
    ("fn_base_trainer_train_not_restored", {"classifier.py:BN403:16"}),
    # trainer = Trainer(Net()); trainer.train(...); trainer.validate(...) in main.py
    ("fn_trainer_object", {"trainer.py:BN402:34"}),
    ("fn_trainer_object_builds_its_model.py", {"BN402:25"}),  # evaluator = Evaluator(); self.model = Net() in it
    ("fn_evaluation_closure_handed_over.py", {"BN402:17"}),  # return Engine(_inference), model(data) in it
    ("fn_package_on_sys_path", {"tools/train.py:BN403:13"}),  # import _init_paths: ../lib on sys.path
    # models = {...}; return models[name](**kwargs) in core/models/model_zoo.py (not once it is updated)
    ("fn_local_registry", {"scripts/eval.py:BN402:21"}),
    # torch.jit.trace(model, ...) in an Engine's _inference closure, before its eval() or without one
    ("fn_export_in_closure_handed_over.py", {"BN404:15", "BN404:26"}),
    # model = config.init_obj('arch', module_arch): getattr(module, name)(...) of the module passed
    # ... and get_instance(module_arch, 'arch', config), a function of the file picking the same way
    ("fn_model_from_config_method", {"test.py:BN402:21", "train.py:BN402:16"}),
    # Trainer(BaseTrainer) hands the model to super().__init__, which stores it in another file
    ("fn_trainer_base_stores_model", {"trainer.py:BN404:23"}),
    ("fn_callable_evaluator.py", {"BN402:25"}),  # single_scale(net, dl): the object's __call__ (fresh round)
    # META_ARCH_REGISTRY.get(name)(cfg), its classes entered by @META_ARCH_REGISTRY.register() (fresh round)
    ("fn_registry_decorator", {"export.py:BN404:13"}),
    # eval('models.' + config.MODEL.NAME + '.get_pose_net')(...) and eval('models.' + arch)()
    ("fn_model_built_by_eval", {"train.py:BN401:26", "valid.py:BN402:12"}),
    # with inference_context(model): a context manager of the file's with no eval() before its yield (fresh round)
    ("fn_context_manager_without_eval.py", {"BN402:29"}),
    # torch.jit.trace(sub_module) for each of model.named_modules(): the model's mode (fresh round)
    ("fn_submodule_loop.py", {"BN404:13", "BN404:27"}),
    # model = torch.load(f) in place of the global model; train()'s batch loop leaves it training (fresh round)
    ("fn_unpickled_global.py", {"BN402:25"}),
    # model = eval(CONFIG.MODEL.NAME)(...): one of the model classes the file sees (round 6, deeplab-pytorch)
    ("fn_model_class_by_eval_setting.py", {"BN402:20"}),
])
def test_miss_classes_are_reported(rel, expected):
    assert reported(rel) == expected


def test_a_deliberate_recalibration_stays_clean():
    text = (
        "import torch\n\n"
        "@torch.no_grad()\n"
        "def recompute(loader, model):\n"
        "    for m in model.modules():\n"
        "        m.reset_running_stats()\n"
        "    model.train()\n"
        "    for x in loader:\n"
        "        model(x)\n"
    )
    assert [f.code for f in check_source(text) if f.code == "BN402"] == []


def test_train_before_a_named_validation_is_reported():
    text = (
        "import torch\n\n"
        "def validate(model, val_loader):\n"
        "    model.train()\n"
        "    with torch.no_grad():\n"
        "        return [model(x) for x in val_loader]\n"
    )
    assert [f.code for f in check_source(text)] == ["BN402"]


def test_no_common_path_between_a_freeze_and_a_train():
    text = (
        "import torch, torchvision\n"
        "model = torchvision.models.resnet50()\n"
        "if args.mode != 'probe':\n"
        "    model.requires_grad_(False)\n"
        "for epoch in range(3):\n"
        "    if args.mode == 'probe':\n"
        "        model.train()\n"
        "    else:\n"
        "        model.eval()\n"
        "    for x in loader:\n"
        "        model(x).sum().backward()\n"
        "        optimizer.step()\n"
    )
    assert [f.code for f in check_source(text) if f.code == "BN401"] == []


def test_the_same_helper_summarized_once_across_modules(tmp_path):
    (tmp_path / "helpers.py").write_text("def freeze(net):\n    for p in net.parameters():\n        p.requires_grad = False\n")
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(
            "import torch, torchvision\nfrom helpers import freeze\n"
            "net = torchvision.models.resnet18()\nfreeze(net)\n"
            "for x in loader:\n    net(x).sum().backward()\n    optimizer.step()\n"
        )
    from bnlint.source import interproc, structure

    assert [f.code for f in check_source(str(tmp_path / "a.py"))] == ["BN401"]
    helpers = structure.structure_of(str(tmp_path / "helpers.py"))
    summary = interproc.foreign_summary(helpers, helpers.functions["freeze"])
    assert summary is not None and summary.freezes == {"net"}
    assert [f.code for f in check_source(str(tmp_path / "b.py"))] == ["BN401"]
    assert structure.structure_of(str(tmp_path / "helpers.py")) is helpers  # parsed once
    assert interproc.foreign_summary(helpers, helpers.functions["freeze"]) is summary  # summarized once
