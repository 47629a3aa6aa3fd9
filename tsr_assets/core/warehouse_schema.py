"""What the DuckDB warehouse holds: every table's columns (`TABLES`) and every view's query
(`VIEWS`, created in this order, so a view may read the ones before it). `core/warehouse.py`
creates them and writes rows; this module only declares them."""

from __future__ import annotations

from tsr_assets.core.judge_views import JUDGE_AGREEMENT_SQL, JUDGE_LENGTH_BIAS_SQL

TABLES: dict[str, str] = {
    "tokenizer_stats": """
        language VARCHAR NOT NULL,
        tokenizer VARCHAR NOT NULL,
        tokenizer_name VARCHAR,
        tokenizer_version VARCHAR,
        split VARCHAR,
        stories BIGINT,
        words BIGINT,
        chars BIGINT,
        bytes BIGINT,
        tokens BIGINT,
        fertility DOUBLE,
        chars_per_token DOUBLE,
        bytes_per_token DOUBLE,
        single_token_word_share DOUBLE,
        words_covered_share DOUBLE,
        vocab_size BIGINT,
        vocab_used BIGINT,
        vocab_used_share DOUBLE,
        fallback_rate DOUBLE,
        renyi_alpha DOUBLE,
        renyi_entropy_bits DOUBLE,
        renyi_efficiency DOUBLE,
        log_base VARCHAR,
        renyi_nats_0_5 DOUBLE,
        renyi_nats_1 DOUBLE,
        renyi_nats_2 DOUBLE,
        renyi_nats_2_5 DOUBLE,
        morphscore DOUBLE,
        morph_words_scored BIGINT,
        morph_words_single_token BIGINT,
        morph_words_unmatchable BIGINT,
        morphscore_decoded DOUBLE,
        morph_words_scored_decoded BIGINT,
        morph_gold VARCHAR,
        run_id VARCHAR,
        computed_at TIMESTAMPTZ
    """,
    "training_runs": """
        run_id VARCHAR NOT NULL,
        language VARCHAR NOT NULL,
        tokenizer VARCHAR NOT NULL,
        preset VARCHAR NOT NULL,
        recipe VARCHAR,
        corpus VARCHAR DEFAULT 'generated',
        stories_by_source VARCHAR,
        tokenizer_version VARCHAR,
        parameters BIGINT,
        parameters_non_embedding BIGINT,
        n_layer INTEGER,
        n_embd INTEGER,
        n_head INTEGER,
        block_size INTEGER,
        vocab_size INTEGER,
        steps BIGINT,
        steps_this_run BIGINT,
        resumed_from_step BIGINT,
        tokens_seen BIGINT,
        best_val_loss DOUBLE,
        final_val_loss DOUBLE,
        best_val_bits_per_byte DOUBLE,
        final_val_bits_per_byte DOUBLE,
        tokens_per_s DOUBLE,
        mfu DOUBLE,
        wall_s DOUBLE,
        stop_reason VARCHAR,
        device VARCHAR,
        precision VARCHAR,
        world_size INTEGER,
        checkpoint VARCHAR,
        finished_at TIMESTAMPTZ
    """,
    "samples": """
        language VARCHAR NOT NULL,
        tokenizer VARCHAR NOT NULL,
        preset VARCHAR NOT NULL,
        corpus VARCHAR DEFAULT 'generated',
        prompt_id VARCHAR NOT NULL,
        opener_index INTEGER,
        sample_index INTEGER,
        opener VARCHAR,
        continuation VARCHAR,
        story VARCHAR,
        tokens INTEGER,
        ended_at_eos BOOLEAN,
        slid BOOLEAN,
        seconds DOUBLE,
        checkpoint_step BIGINT,
        run_id VARCHAR,
        created_at TIMESTAMPTZ
    """,
    "judge_scores": """
        language VARCHAR NOT NULL,
        tokenizer VARCHAR NOT NULL,
        preset VARCHAR NOT NULL,
        corpus VARCHAR DEFAULT 'generated',
        parameters BIGINT,
        judge VARCHAR NOT NULL,
        rubric_hash VARCHAR,
        metric VARCHAR NOT NULL,
        value DOUBLE,
        prompt_id VARCHAR NOT NULL,
        sample_index INTEGER,
        run_id VARCHAR,
        created_at TIMESTAMPTZ
    """,
    "near_duplicates": """
        language VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        cluster VARCHAR NOT NULL,
        prompt_id VARCHAR NOT NULL,
        position BIGINT,
        similarity DOUBLE,
        representative BOOLEAN,
        threshold DOUBLE,
        run_id VARCHAR,
        computed_at TIMESTAMPTZ
    """,
    "contamination": """
        language VARCHAR NOT NULL,
        opener_index INTEGER NOT NULL,
        opener VARCHAR,
        ngram INTEGER,
        ngrams INTEGER,
        ngrams_found INTEGER,
        share DOUBLE,
        in_full BOOLEAN,
        in_part BOOLEAN,
        stories_matched BIGINT,
        sources VARCHAR,
        run_id VARCHAR,
        computed_at TIMESTAMPTZ
    """,
    "corpus_metrics": """
        language VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        value DOUBLE,
        run_id VARCHAR,
        computed_at TIMESTAMPTZ
    """,
    "generation_runs": """
        run_id VARCHAR NOT NULL,
        language VARCHAR NOT NULL,
        stage VARCHAR NOT NULL,
        source VARCHAR,
        model VARCHAR,
        requested BIGINT,
        succeeded BIGINT,
        failed BIGINT,
        rejected BIGINT,
        rejections_by_reason VARCHAR,
        failures_by_reason VARCHAR,
        prompt_tokens BIGINT,
        completion_tokens BIGINT,
        usage_estimated BOOLEAN,
        cost DOUBLE,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        outcome VARCHAR,
        error VARCHAR,
        mode VARCHAR DEFAULT 'online',
        batch_ids VARCHAR,
        cached_answers BIGINT,
        cost_saved DOUBLE
    """,
    # Every pair of models of a language on the same openers, per judge and metric (paired,
    # opener-clustered bootstrap; the reports asset fills it, per language).
    "model_comparison": """
        language VARCHAR NOT NULL,
        judge VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        model_a VARCHAR NOT NULL,
        model_b VARCHAR NOT NULL,
        tokenizer_a VARCHAR NOT NULL,
        preset_a VARCHAR NOT NULL,
        corpus_a VARCHAR,
        tokenizer_b VARCHAR NOT NULL,
        preset_b VARCHAR NOT NULL,
        corpus_b VARCHAR,
        openers BIGINT,
        n_a BIGINT,
        n_b BIGINT,
        mean_a DOUBLE,
        mean_b DOUBLE,
        mean_difference DOUBLE,
        ci95_low DOUBLE,
        ci95_high DOUBLE,
        p_value DOUBLE,
        significant BOOLEAN,
        z_unpaired DOUBLE,
        p_unpaired DOUBLE,
        ci95_unpaired_low DOUBLE,
        ci95_unpaired_high DOUBLE,
        resamples BIGINT,
        seed BIGINT,
        computed_at TIMESTAMPTZ
    """,
    # Every judge against the human raters (`human:<rater>` judges), per language, judge and
    # criterion, and the raters among themselves (judge `humans`); the reports asset fills it,
    # per language (evaluation/calibration.py defines every column).
    "judge_calibration": """
        language VARCHAR NOT NULL,
        judge VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        human_metric VARCHAR,
        raters BIGINT,
        n BIGINT,
        spearman DOUBLE,
        spearman_ci95_low DOUBLE,
        spearman_ci95_high DOUBLE,
        alpha_judge_humans DOUBLE,
        alpha_humans DOUBLE,
        judge_mean DOUBLE,
        humans_mean DOUBLE,
        mean_difference DOUBLE,
        mean_difference_ci95_low DOUBLE,
        mean_difference_ci95_high DOUBLE,
        models BIGINT,
        kendall_tau DOUBLE,
        same_model_order BOOLEAN,
        resamples BIGINT,
        seed BIGINT,
        computed_at TIMESTAMPTZ
    """,
    # Does a judge score broken versions of a model's stories worse (`judge_probes_<preset>`,
    # one partition per model and judge; evaluation/probes.py defines every column).
    "judge_probes": """
        language VARCHAR NOT NULL,
        tokenizer VARCHAR NOT NULL,
        preset VARCHAR NOT NULL,
        corpus VARCHAR DEFAULT 'generated',
        judge VARCHAR NOT NULL,
        rubric_hash VARCHAR,
        story_source VARCHAR,
        metric VARCHAR NOT NULL,
        probe VARCHAR NOT NULL,
        stories BIGINT,
        mean_original DOUBLE,
        mean_probed DOUBLE,
        mean_change DOUBLE,
        ci95_low DOUBLE,
        ci95_high DOUBLE,
        share_lower DOUBLE,
        share_higher DOUBLE,
        share_worse DOUBLE,
        direction INTEGER,
        noticed BOOLEAN,
        flagged BOOLEAN,
        retest_alpha DOUBLE,
        resamples BIGINT,
        seed BIGINT,
        run_id VARCHAR,
        computed_at TIMESTAMPTZ
    """,
    # How good a translator is on the parallel evaluation openers (`translation_quality`).
    "translation_quality": """
        language VARCHAR NOT NULL,
        source_language VARCHAR NOT NULL,
        translator VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        openers BIGINT,
        translated BIGINT,
        chrf_pp DOUBLE,
        gate_pass_share DOUBLE,
        rejections_by_reason VARCHAR,
        labse_similarity DOUBLE,
        labse_model VARCHAR,
        comet_da DOUBLE,
        comet_model VARCHAR,
        run_id VARCHAR,
        computed_at TIMESTAMPTZ
    """,
    # The compute prices the cost views use (one row, `scope` 'default'; the reports asset
    # writes the prices it was run with).
    "compute_prices": """
        scope VARCHAR NOT NULL,
        gpu_hour_price DOUBLE,
        cpu_hour_price DOUBLE,
        currency VARCHAR,
        set_at TIMESTAMPTZ
    """,
    # One row per `replace_partition` call: who wrote which partition, and when its
    # transaction began and was about to commit (the DuckDB file lock makes writers take turns;
    # this is the record that they did).
    "warehouse_writes": """
        table_name VARCHAR NOT NULL,
        partition_key VARCHAR,
        rows BIGINT,
        began_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        host VARCHAR,
        pid INTEGER
    """,
}

#: What one device-hour costs when no `compute_prices` row says otherwise (USD): one H100 at
#: $2/h as the original study priced it; a CPU machine-hour of a small cloud VM.
DEFAULT_GPU_HOUR_PRICE = 2.0
DEFAULT_CPU_HOUR_PRICE = 0.10

# Judge means with n and a 95% confidence interval (normal approximation, 1.96 standard
# errors), joined with the latest training run and the tokenizer statistics.
VIEWS: dict[str, str] = {
    "corpus_quality": """
        SELECT language, source, metric, value FROM corpus_metrics
    """,
    # Definitions in core/judge_views.py (reference implementations in evaluation/).
    "judge_agreement": JUDGE_AGREEMENT_SQL,
    "judge_length_bias": JUDGE_LENGTH_BIAS_SQL,
    "judge_summary": """
        SELECT language, tokenizer, preset, corpus, judge, metric,
               count(value) AS n,
               avg(value) AS mean,
               stddev_samp(value) AS sd,
               avg(value) - 1.96 * stddev_samp(value) / sqrt(count(value)) AS ci95_low,
               avg(value) + 1.96 * stddev_samp(value) / sqrt(count(value)) AS ci95_high
        FROM judge_scores
        GROUP BY language, tokenizer, preset, corpus, judge, metric
    """,
    "latest_training_runs": """
        SELECT * FROM training_runs
        QUALIFY row_number() OVER (PARTITION BY language, tokenizer, preset, corpus
                                   ORDER BY finished_at DESC) = 1
    """,
    "tokenizer_comparison": """
        SELECT s.language, s.preset, s.tokenizer, s.corpus, s.judge, s.metric, s.n, s.mean,
               s.ci95_low, s.ci95_high,
               t.recipe, t.stories_by_source, t.best_val_loss AS val_loss,
               t.best_val_bits_per_byte AS bits_per_byte, t.parameters, k.fertility,
               k.renyi_efficiency
        FROM judge_summary s
        LEFT JOIN latest_training_runs t USING (language, tokenizer, preset, corpus)
        LEFT JOIN tokenizer_stats k USING (language, tokenizer)
    """,
    "size_comparison": """
        SELECT s.language, s.tokenizer, s.preset, s.corpus, t.recipe, t.n_layer, t.n_embd,
               t.parameters, t.parameters_non_embedding, s.judge, s.metric, s.n, s.mean,
               s.ci95_low, s.ci95_high,
               t.best_val_loss AS val_loss, t.best_val_bits_per_byte AS bits_per_byte
        FROM judge_summary s
        LEFT JOIN latest_training_runs t USING (language, tokenizer, preset, corpus)
    """,    # Device-hours of every latest training run (wall time x processes) at the price of its
    # device kind; an imported model cost nothing here.
    "training_costs": f"""
        SELECT t.language, t.tokenizer, t.preset, t.recipe, t.corpus, t.device, t.world_size,
               t.parameters, t.steps, t.tokens_seen,
               t.wall_s / 3600.0 AS wall_hours,
               t.wall_s / 3600.0 * coalesce(t.world_size, 1) AS device_hours,
               CASE WHEN t.device LIKE 'cuda%' THEN 'gpu' ELSE 'cpu' END AS device_kind,
               CASE WHEN t.device LIKE 'cuda%'
                    THEN coalesce(p.gpu_hour_price, {DEFAULT_GPU_HOUR_PRICE})
                    ELSE coalesce(p.cpu_hour_price, {DEFAULT_CPU_HOUR_PRICE}) END
                   AS price_per_device_hour,
               t.wall_s / 3600.0 * coalesce(t.world_size, 1) * (CASE WHEN t.device LIKE 'cuda%'
                    THEN coalesce(p.gpu_hour_price, {DEFAULT_GPU_HOUR_PRICE})
                    ELSE coalesce(p.cpu_hour_price, {DEFAULT_CPU_HOUR_PRICE}) END) AS cost,
               coalesce(p.currency, 'USD') AS currency
        FROM latest_training_runs t
        LEFT JOIN (SELECT * FROM compute_prices WHERE scope = 'default') p ON true
        WHERE t.stop_reason IS DISTINCT FROM 'imported'
    """,
    # What writing (or translating, or judging) the data cost, per language, stage and model.
    "data_costs": """
        SELECT language, stage, source, model, mode,
               count(*) AS runs,
               sum(succeeded)::BIGINT AS stories,
               sum(requested)::BIGINT AS requested,
               sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0))::BIGINT AS tokens,
               sum(prompt_tokens)::BIGINT AS prompt_tokens,
               sum(completion_tokens)::BIGINT AS completion_tokens,
               bool_or(usage_estimated) AS usage_estimated,
               sum(cost) AS cost,
               sum(cost) / nullif(sum(succeeded), 0) * 1000 AS cost_per_1000_stories,
               sum(cost_saved) AS cost_saved,
               sum(cached_answers)::BIGINT AS cached_answers
        FROM generation_runs
        GROUP BY language, stage, source, model, mode
    """,
}
