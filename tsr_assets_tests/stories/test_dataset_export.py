"""The dataset export joins the stories and their prompts chunk by chunk into the split files:
the same rows, in store order, as joining the whole tables."""

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from tsr_assets.core.lake import Lake
from tsr_assets.stories import dataset_export
from tsr_assets.stories.dataset_export import export_dataset, split_file
from tsr_assets.tokenizers.token_bins import val_mask


def test_the_export_is_the_whole_join_in_store_order(tmp_path: Path, monkeypatch) -> None:
    lake = Lake(tmp_path / "lake")
    folder = lake.stories_dir("hindi") / "shards"
    folder.mkdir(parents=True)
    n = 900
    stories = pl.DataFrame({
        "prompt_id": [f"p{(i * 7919) % n:05d}" for i in range(n)],
        "story": [f"कहानी नंबर {i}।" for i in range(n)],
        "provider": ["offline-template"] * n,
        "model": [None if i % 3 else "m1" for i in range(n)],
    })
    # Three shards named in time order; the oldest lacks the `model` column.
    for k, (a, b) in enumerate([(0, 250), (250, 600), (600, n)]):
        part = stories.slice(a, b - a)
        (part.drop("model") if k == 0 else part).write_parquet(
            folder / f"part-2026010{k}T000000000000-abc{k}.parquet", row_group_size=100)
    prompts = pl.DataFrame({"prompt_id": [f"p{i:05d}" for i in range(n - 50)],
                            "noun": [f"n{i}" for i in range(n - 50)],
                            "prompt": [f"लिखो {i}" for i in range(n - 50)]})
    lake.prompts_file("hindi").parent.mkdir(parents=True)
    prompts.write_parquet(lake.prompts_file("hindi"))
    # Chunks of at most 300 stories: each shard is a chunk, so each split has three files.
    monkeypatch.setattr(dataset_export, "JOIN_CHUNK_ROWS", 300)

    out = tmp_path / "export"
    facts = export_dataset(lake, "hindi", out, lambda f: "card", val_share=0.2)

    whole = stories.with_columns(
        pl.when(pl.int_range(pl.len()) < 250).then(None).otherwise(pl.col("model"))
        .alias("model")).join(prompts, on="prompt_id", how="left", maintain_order="left")
    in_val = pl.Series(val_mask(whole["prompt_id"].to_list(), 0.2))
    for split, keep in (("train", ~in_val), ("validation", in_val)):
        files = sorted((out / "data").glob(f"{split}-*.parquet"))
        assert [f.name for f in files] == [split_file(split, i, 3) for i in range(3)]
        written = pl.concat([pl.from_arrow(pq.read_table(f)) for f in files])
        assert written.select(whole.columns).equals(whole.filter(keep)), split
    assert facts.rows == {"train": int((~in_val).sum()), "validation": int(in_val.sum())}
    with_model = int(whole["model"].is_not_null().sum())
    assert with_model == 216  # every third story of the two newer shards
    assert facts.sources == {"offline-template": n - with_model,
                             "offline-template (m1)": with_model}
    assert (out / "README.md").read_text() == "card" and not list(tmp_path.glob("*.tmp-*"))
