"""Makes a plain ``lm_eval`` find the Q-Bench tasks and models, with no ``--include_path``.

lm-eval 0.4.13 has no plugin mechanism for tasks: its ``TaskManager`` indexes ``lm_eval/tasks/``
plus an explicit include path. The ``qbench-lm-eval.pth`` file this distribution installs imports
this module when Python starts. It only puts a watcher on the import system (one dict lookup
per import; nothing is imported), and acts when lm-eval's own modules load:

* ``lm_eval.tasks.manager``: every ``TaskManager`` that indexes the built-in tasks indexes the
  Q-Bench task folder too, placed before the caller's include paths (theirs still win a name
  clash). A manager whose paths already hold that folder (an ``--include_path``, or a future
  lm-eval that finds task packages by itself) is left as it is.
* ``lm_eval.models``: the models this distribution declares under the ``lm_eval.models`` entry
  point group (the group lm-eval's upstream plugin mechanism reads) are registered as lazy
  placeholders, so ``--model hf-multimodal-loglik`` resolves and nothing is imported until it
  is asked for. A name already registered (lm-eval's own discovery) is left alone.

* ``lm_eval.models.vllm_vlms`` (imported when ``--model vllm-vlm`` is asked for): its
  ``vllm-vlm`` gets log-likelihoods over images (``model_wrappers.vllm_vlm``).
* ``lm_eval.loggers.evaluation_tracker``: in an ``lm_eval`` command that runs Q-Bench tasks, an
  ``--output_path`` that cannot be written ends the run when its tracker is made, before the model
  loads (lm-eval itself finds out after the whole computation, logs a warning and exits 0, the
  results lost). Other runs are left as they are.

``QBENCH_LM_EVAL_AUTOLOAD=0`` turns it off (checked in the .pth line, before this module is
imported). A failure here logs one warning and leaves lm-eval working without Q-Bench.
"""


import sys

DISABLE_ENV = "QBENCH_LM_EVAL_AUTOLOAD"
DISTRIBUTION = "lm-eval-qbench"
ENTRY_POINT_GROUP = "lm_eval.models"


def _add_qbench_tasks(manager_module) -> None:
    from pathlib import Path

    from qbench_tasks import TASKS_DIR

    task_manager = manager_module.TaskManager
    lm_eval_init = task_manager.__init__

    def __init__(self, verbosity=None, include_path=None, include_defaults=True, metadata=None):
        if include_defaults:
            given = [] if include_path is None else (
                list(include_path) if isinstance(include_path, (list, tuple)) else [include_path])
            if all(Path(p).resolve() != TASKS_DIR for p in given):
                include_path = [TASKS_DIR, *given]
        lm_eval_init(self, verbosity, include_path, include_defaults, metadata)

    __init__.__wrapped__ = lm_eval_init
    task_manager.__init__ = __init__


def _register_qbench_models(models_module) -> None:
    from importlib.metadata import distribution

    from lm_eval.api.registry import model_registry

    for entry_point in distribution(DISTRIBUTION).entry_points:
        if entry_point.group == ENTRY_POINT_GROUP and entry_point.name not in model_registry:
            model_registry.register(entry_point.name, target=entry_point.value)


# module name -> what to do once lm-eval has executed it
def output_path_problem(output_path: str) -> str | None:
    """Why lm-eval could not write its results at ``output_path`` (a folder, or a ``.json`` file
    whose folder it writes into), or None. The folder is made now, as lm-eval would at the end."""
    import tempfile
    from pathlib import Path

    path = Path(output_path).expanduser()
    folder = path.parent if path.suffix == ".json" else path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return (f"--output_path {output_path} cannot be written ({err.strerror or err}: {err.filename or folder}); "
                "nothing was run, so no results are lost. Choose a folder you can write")
    return None


def _command_line_tasks(argv: list[str]) -> list[str]:
    """The task names an ``lm_eval`` command line asks for (``--tasks``/``-t``, space or comma separated)."""
    names: list[str] = []
    taking = False
    for arg in argv[1:]:
        if arg.startswith("-"):
            flag, _, value = arg.partition("=")
            taking = flag in ("--tasks", "-t")
            if taking and value:
                names += value.split(",")
                taking = False
        elif taking:
            names += arg.split(",")
    return [name for name in names if name]


def _check_output_path_early(tracker_module) -> None:
    from qbench_tasks import is_qbench_name

    tracker = tracker_module.EvaluationTracker
    lm_eval_init = tracker.__init__

    def __init__(self, *args, **kwargs):
        lm_eval_init(self, *args, **kwargs)
        runs_qbench = any(map(is_qbench_name, _command_line_tasks(sys.argv)))
        problem = output_path_problem(self.output_path) if self.output_path and runs_qbench else None
        if problem:
            raise SystemExit(f"lm_eval: {problem}")

    __init__.__wrapped__ = lm_eval_init
    tracker.__init__ = __init__


def _hook_vllm_vlm(_module) -> None:
    from model_wrappers.vllm_vlm import install_vllm_hook

    install_vllm_hook()


_ACTIONS = {"lm_eval.tasks.manager": _add_qbench_tasks, "lm_eval.models": _register_qbench_models,
            "lm_eval.loggers.evaluation_tracker": _check_output_path_early,
            "lm_eval.models.vllm_vlms": _hook_vllm_vlm}


def _act(name: str, module) -> None:
    try:
        _ACTIONS[name](module)
    except Exception as err:  # noqa: BLE001 - Q-Bench must never take lm-eval down with it
        import logging

        logging.getLogger("qbench").warning(
            "Q-Bench could not add itself to lm-eval (%s: %s: %s); lm-eval runs without the Q-Bench "
            "tasks and models. Use `qbench run` or --include_path \"$(qbench tasks-dir)\", or set "
            "%s=0 to silence this.", name, type(err).__name__, err, DISABLE_ENV)


class _RunAfterExec:
    """The module's own loader, plus our action once the module has executed."""

    def __init__(self, loader, name: str):
        self._loader, self._name = loader, name

    def __getattr__(self, attr):  # get_source, is_package, ... stay the real loader's
        return getattr(self._loader, attr)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _act(self._name, module)


class _Watcher:
    """A meta path finder that finds nothing itself: it asks the finders behind it for the
    watched modules and wraps their loaders."""

    def find_spec(self, name, path=None, target=None):
        if name not in _ACTIONS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _RunAfterExec(spec.loader, name)
                return spec
        return None


def install() -> None:
    """Watch for lm-eval's modules (once per process); act at once on those already imported."""
    if any(isinstance(finder, _Watcher) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _Watcher())
    for name in _ACTIONS:
        if name in sys.modules:
            _act(name, sys.modules[name])
