"""The models a deployment has, as Dagster components: a `ModelPreset` is a GPT size the
platform trains, an `ImportedModel` a model made elsewhere brought into the comparison.

Each instance is one `defs.yaml` under `tsr_assets/defs/models/<name>/`; `dg list defs`, the UI
and `tsr run --presets` see what the folder declares, and adding a size is adding a file:

    dg scaffold defs tsr_assets.defs.model_components.ModelPreset models/e64_l6

(a seed size of `model/presets.py` is filled in from the catalog; another name needs its
shape: `--json-params '{"n_layer": 8, "n_embd": 768}'`; docs/training.md). Every model gets
`checkpoint_<name>`, `samples_<name>`, `judge_scores_<name>`, `judge_probes_<name>` and
`hf_model_<name>`; a preset's five follow new token bins eagerly (for the chained tokenizers),
an imported model's wait for a person.
"""

from pathlib import Path

import dagster as dg
from pydantic import BaseModel, Field, field_validator, model_validator

from tsr_assets.defs.automation import chained
from tsr_assets.defs.evaluation import build_judge_asset, build_samples_asset
from tsr_assets.defs.judge_probes import build_probes_asset
from tsr_assets.defs.load_scope import LoadScope, current_scope, stage_definitions
from tsr_assets.defs.partitions import Partitions
from tsr_assets.defs.publishing import build_model_export
from tsr_assets.defs.training import build_checkpoint_asset, build_import_asset
from tsr_assets.model.gpt import RECIPE_OPTIONS
from tsr_assets.model.imported_models import check_import_name
from tsr_assets.model.presets import PRESETS, Preset, check_model_name, get_preset


def model_definitions(partitions: Partitions, name: str,
                      automation_condition: dg.AutomationCondition | None,
                      ) -> list[dg.AssetsDefinition]:
    """What every model has after its checkpoint: samples, judge scores, judge probes and the
    `transformers` export."""
    return [build_samples_asset(partitions, name, automation_condition),
            build_judge_asset(partitions, name, automation_condition),
            build_probes_asset(partitions, name, automation_condition),
            build_model_export(partitions, name, automation_condition)]


def preset_definitions(scope: LoadScope, name: str, shape: Preset) -> dg.Definitions:
    """The five assets of the model preset `name` of `shape`."""
    partitions = scope.partitions()
    condition = chained(partitions)
    return stage_definitions([build_checkpoint_asset(partitions, name, shape, condition),
                              *model_definitions(partitions, name, condition)])


def import_definitions(scope: LoadScope, name: str, source: str) -> dg.Definitions:
    """The five assets of the imported model `name` (none automated)."""
    partitions = scope.partitions()
    return stage_definitions([build_import_asset(partitions, name, source),
                              *model_definitions(partitions, name, None)])


class ModelPresetParams(BaseModel):
    """`dg scaffold defs ... ModelPreset models/<name>` parameters: the shape, for a name the
    seed catalog does not have."""

    n_layer: int | None = None
    n_embd: int | None = None
    n_head: int | None = None
    block_size: int | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    recipe: str | None = None


class ModelPresetScaffolder(dg.Scaffolder[ModelPresetParams]):
    """Writes `models/<name>/defs.yaml`: a seed size's values from `model/presets.py`, with the
    parameters given on the command line on top."""

    @classmethod
    def get_scaffold_params(cls) -> type[ModelPresetParams]:
        return ModelPresetParams

    def scaffold(self, request: dg.ScaffoldRequest[ModelPresetParams]) -> None:
        name = Path(request.target_path).name
        given = {k: v for k, v in request.params.model_dump().items() if v is not None}
        try:
            seed = vars(get_preset(name)).copy()
        except ValueError:
            if not {"n_layer", "n_embd"} <= set(given):
                raise ValueError(
                    f"{name!r} is not a seed size ({', '.join(PRESETS)}, each optionally with "
                    "a recipe suffix): give its shape, e.g. --json-params "
                    "'{\"n_layer\": 8, \"n_embd\": 768}'") from None
            seed = {}
        attributes = {"name": name, **{k: v for k, v in seed.items() if v is not None}, **given}
        dg.scaffold_component(request, attributes)


@dg.scaffold_with(ModelPresetScaffolder)
class ModelPreset(dg.Component, dg.Model, dg.Resolvable):
    """A GPT size the platform trains on every language x tokenizer partition (its
    `checkpoint_<name>`, samples, judge scores, judge probes and `hf_model_<name>`)."""

    name: str = Field(description="Asset-name part: checkpoint_<name> (lowercase, digits, _).")
    n_layer: int = Field(ge=1, le=64, description="Transformer layers.")
    n_embd: int = Field(ge=8, le=8192, description="Width; a multiple of n_head.")
    n_head: int = Field(default=8, ge=1, le=128, description="Attention heads.")
    block_size: int = Field(default=1024, ge=8, le=32768, description="Context length.")
    learning_rate: float = Field(default=6e-4, gt=0, le=1, description="Peak learning rate.")
    batch_size: int = Field(default=32, ge=1, le=4096, description="Sequences per micro-batch.")
    recipe: str | None = Field(default=None, description="nanogpt or modern; empty: the "
                                                         "run's choice.")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return check_model_name(name)

    @model_validator(mode="after")
    def _consistent(self) -> "ModelPreset":
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not a multiple of n_head {self.n_head}")
        if self.recipe is not None and self.recipe not in RECIPE_OPTIONS:
            raise ValueError(f"recipe {self.recipe!r}: use one of {', '.join(RECIPE_OPTIONS)}")
        return self

    def preset(self) -> Preset:
        """The shape and settings as the trainer takes them."""
        return Preset(n_layer=self.n_layer, n_embd=self.n_embd, n_head=self.n_head,
                      block_size=self.block_size, learning_rate=self.learning_rate,
                      batch_size=self.batch_size, recipe=self.recipe)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        scope = current_scope()
        if scope.presets is not None and self.name not in scope.presets:
            return dg.Definitions()
        return preset_definitions(scope, self.name, self.preset())


class ImportedModel(dg.Component, dg.Model, dg.Resolvable):
    """A model made elsewhere (a nanoGPT `.pt`, a `transformers` GPT-2 folder or a Hub id),
    converted per partition and evaluated beside the platform's models."""

    name: str = Field(description="Asset-name part: checkpoint_<name>.")
    source: str = Field(description="A nanoGPT .pt file, a transformers folder or a Hub id.")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return check_model_name(name)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        scope = current_scope()
        if scope.imports is not None and self.name not in scope.imports:
            return dg.Definitions()
        source = scope.imports[self.name] if scope.imports is not None else self.source
        return import_definitions(scope, self.name, source)


def declared_presets(context: dg.ComponentLoadContext) -> dict[str, Preset]:
    """The model presets of this load: the folder's `ModelPreset` instances (or exactly the
    scope's `presets`, the folder's values where it declares them, the catalog's otherwise),
    plus the scope's `extra_presets`."""
    scope = current_scope()
    folder = {c.name: c.preset()
              for c in context.component_tree.get_all_components(of_type=ModelPreset)}
    names = list(scope.presets) if scope.presets is not None else list(folder)
    names += [n for n in scope.extra_presets if n not in names]
    return {name: folder.get(name) or _seed(name) for name in names}


def _seed(name: str) -> Preset:
    """A seed size the folder does not declare, for this load; else how to declare it."""
    try:
        return get_preset(name)
    except ValueError as exc:
        raise ValueError(
            f"unknown model preset {name!r}: neither declared in tsr_assets/defs/models/ nor a "
            f"seed size ({', '.join(PRESETS)}): declare it with `dg scaffold defs "
            f"tsr_assets.defs.model_components.ModelPreset models/{name} --json-params "
            "'{\"n_layer\": 8, \"n_embd\": 768}'` (docs/training.md)") from exc


def declared_imports(context: dg.ComponentLoadContext) -> dict[str, str]:
    """The imported models of this load: the folder's `ImportedModel` instances (or exactly
    the scope's `imports`), plus the scope's `extra_imports`."""
    scope = current_scope()
    folder = {c.name: c.source
              for c in context.component_tree.get_all_components(of_type=ImportedModel)}
    imports = dict(scope.imports) if scope.imports is not None else folder
    return {**imports, **scope.extra_imports}


def declared_models(context: dg.ComponentLoadContext) -> list[str]:
    """Every model of this load, presets first: the names the reports and the human ratings
    compare."""
    presets = declared_presets(context)
    imports = declared_imports(context)
    for name in imports:
        check_import_name(name, reserved=list(presets))
    return [*presets, *imports]


@dg.definitions
def defs(context: dg.ComponentLoadContext) -> dg.Definitions:
    """The models this load has that no instance in the folder builds: the scope's presets and
    imports that the folder does not declare (`tsr run --presets e64_l2`, `$TSR_PRESETS`,
    `$TSR_IMPORTED_MODELS`)."""
    scope = current_scope()
    folder_presets = {c.name for c in
                      context.component_tree.get_all_components(of_type=ModelPreset)}
    folder_imports = {c.name for c in
                      context.component_tree.get_all_components(of_type=ImportedModel)}
    presets, imports = declared_presets(context), declared_imports(context)
    for name in imports:  # checked once, here
        check_import_name(name, reserved=list(presets))
    extra = [dg.Definitions()]
    extra += [preset_definitions(scope, name, shape)
              for name, shape in presets.items() if name not in folder_presets]
    extra += [import_definitions(scope, name, source)
              for name, source in imports.items() if name not in folder_imports]
    return dg.Definitions.merge(*extra)
