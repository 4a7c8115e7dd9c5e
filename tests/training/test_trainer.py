"""Training on real MovieLens slices: learning, resume after a kill, warm start with new items."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def _loo(events):
    from recloop.evaluation.protocols import leave_one_out

    return leave_one_out(events)


def test_training_lowers_validation_loss_and_beats_random(
    ml_slice, tmp_path, embedding_cache_dir, make_settings
):
    from recloop.evaluation.harness import evaluate_scorer
    from recloop.evaluation.protocols import loo_cases
    from recloop.serving import load_recommender
    from recloop.training.trainer import train_recommender

    events, items = ml_slice
    split = _loo(events)
    settings = make_settings(tmp_path, embedding_cache_dir, epochs=3, hidden_dim=24)
    result = train_recommender(
        settings, split.train, items, valid_events=split.valid, out_dir=tmp_path / "m"
    )

    losses = [row["valid_loss"] for row in result.history]
    assert losses[-1] < losses[0]
    rec = load_recommender(str(result.model_dir))
    cases = loo_cases(split, "test")
    model = evaluate_scorer(rec, cases, k=10).metrics

    class RandomScorer:
        item_ids = rec.item_ids

        def score(self, histories, *, scenarios=None, times=None):
            return np.random.default_rng(0).random((len(histories), len(self.item_ids)))

    random = evaluate_scorer(RandomScorer(), cases, k=10).metrics
    assert model["recall@10"] > 3 * max(random["recall@10"], 0.01)
    assert model["ndcg@10"] > random["ndcg@10"]
    assert result.model_dir.joinpath("model.safetensors").exists()


def test_resume_after_kill_gives_the_uninterrupted_result(
    ml_slice, tmp_path, embedding_cache_dir, make_settings
):
    from safetensors.numpy import load_file

    from recloop.training.trainer import train_recommender

    events, items = ml_slice
    events = events[events["user_id"] <= 30]
    settings = make_settings(tmp_path, embedding_cache_dir, epochs=3, hidden_dim=8, max_len=10)
    straight = train_recommender(settings, events, items, out_dir=tmp_path / "straight")

    class Killed(Exception):
        pass

    def kill_after_first(epoch, metrics):
        if epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        train_recommender(
            settings, events, items, out_dir=tmp_path / "resumed", on_epoch_end=kill_after_first
        )
    assert (tmp_path / "resumed" / "checkpoint.pt").exists()
    import torch

    saved = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)
    assert (saved["epoch"], saved["attempt"]) == (1, 1) and saved["train_seconds"] > 0
    epochs_after_restart = []
    resumed = train_recommender(
        settings,
        events,
        items,
        out_dir=tmp_path / "resumed",
        on_epoch_end=lambda epoch, m: epochs_after_restart.append(epoch),
    )
    assert epochs_after_restart == [2, 3]  # continued from the checkpoint, not from scratch
    a = load_file(str(straight.model_dir / "model.safetensors"))
    b = load_file(str(resumed.model_dir / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-6, err_msg=key)
    assert resumed.metrics == pytest.approx(straight.metrics)
    assert not (tmp_path / "resumed" / "checkpoint.pt").exists()
    # the resume says so, and its time includes the first attempt's
    assert (straight.attempts, straight.resumed_from_epoch) == (1, 0)
    assert (resumed.attempts, resumed.resumed_from_epoch) == (2, 1)
    assert resumed.train_seconds > saved["train_seconds"]


def test_incremental_training_grows_the_catalog(
    ml_slice, tmp_path, embedding_cache_dir, make_settings
):
    from recloop.serving import load_recommender
    from recloop.training.trainer import train_recommender

    events, items = ml_slice
    events = events.sort_values("timestamp", kind="stable")
    cut = int(events["timestamp"].quantile(0.8))
    old, new = events[events["timestamp"] < cut], events[events["timestamp"] >= cut]
    old_items = items[items["item_id"].isin(old["item_id"])]
    settings = make_settings(tmp_path, embedding_cache_dir, epochs=2, incremental_epochs=2)
    base = train_recommender(settings, old, old_items, out_dir=tmp_path / "base")
    inc = train_recommender(
        settings,
        new,
        items,
        init_from=str(base.model_dir),
        replay_events=old,
        out_dir=tmp_path / "inc",
    )

    parent, child = load_recommender(str(base.model_dir)), load_recommender(str(inc.model_dir))
    new_ids = np.setdiff1d(new["item_id"].unique(), parent.item_ids)
    assert len(new_ids) > 0
    assert len(child.item_ids) == len(items)
    np.testing.assert_array_equal(child.item_ids[: len(parent.item_ids)], parent.item_ids)
    assert inc.epochs <= 2
    # A new item is scored and can be recommended: it is in the index with finite scores.
    scores = child.score([new["item_id"].head(5).tolist()])
    column = {int(i): j for j, i in enumerate(child.item_ids)}
    assert np.isfinite(scores[0, [column[int(i)] for i in new_ids]]).all()
    from recloop.model.artifacts import read_config

    assert read_config(inc.model_dir)["train_mode"] == "incremental"


def test_positive_threshold_drops_low_values(ml_slice):
    from recloop.training.prepare import prepare_problem

    events, items = ml_slice
    problem = prepare_problem(events, items, positive_threshold=4.0)
    assert problem.n_train_events + len(problem.valid_cases) <= int((events["value"] >= 4).sum())
    assert problem.n_train_events < len(events) * 0.7


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_encoder_modes_take_a_training_step(
    mode, movielens, tmp_path, embedding_cache_dir, make_settings
):
    """A handful of items and users, 16 tokens: one epoch tunes the encoder itself."""
    from recloop.model.artifacts import ENCODER_DIR
    from recloop.serving import load_recommender
    from recloop.training.trainer import train_recommender

    items = movielens.items[movielens.items["item_id"] <= 12]
    events = movielens.events[movielens.events["item_id"].isin(items["item_id"])]
    events = events[events["user_id"].isin(events["user_id"].unique()[:12])]
    settings = make_settings(
        tmp_path,
        embedding_cache_dir,
        encoder_mode=mode,
        epochs=1,
        batch_size=4,
        max_len=6,
        text_max_tokens=16,
        encoder_lr=1e-3,
    )
    result = train_recommender(settings, events, items, out_dir=tmp_path / mode)
    assert (result.model_dir / ENCODER_DIR / "config.json").exists()
    rec = load_recommender(str(result.model_dir))
    before = pd.Series(np.load(result.model_dir / "text_embeddings.npy").sum(1))
    assert len(rec.recommend(events["item_id"].head(3).tolist(), k=3)) == 3
    from recloop.model.text import cached_text_embeddings, item_texts

    original = cached_text_embeddings(
        item_texts(items, settings.train.text_fields),
        encoder_name=settings.train.encoder_name,
        cache_dir=embedding_cache_dir,
        max_tokens=16,
    )
    assert not np.allclose(original.sum(1), before.to_numpy(), atol=1e-6)  # the encoder moved


@pytest.mark.gpu
def test_cuda_training_uses_bf16_autocast(ml_slice, tmp_path, embedding_cache_dir, make_settings):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from recloop.training.trainer import train_recommender

    events, items = ml_slice
    settings = make_settings(tmp_path, embedding_cache_dir, device="auto", epochs=1)
    result = train_recommender(settings, events, items, out_dir=tmp_path / "gpu")
    assert np.isfinite(result.metrics["train_loss"])


def test_incremental_problem_reads_history_as_context_and_replays_whole_windows(ml_slice):
    from recloop.training.prepare import prepare_problem
    from recloop.training.sequences import sample_windows, training_windows

    events, items = ml_slice
    events = events.sort_values("timestamp", kind="stable")
    cut = int(events["timestamp"].quantile(0.8))
    old, new = events[events["timestamp"] < cut], events[events["timestamp"] >= cut]
    problem = prepare_problem(new, items, history=old)

    index_of = {int(i): n + 1 for n, i in enumerate(problem.item_ids)}
    for seq in problem.sequences:
        user_old = old[old["user_id"] == seq.user_id]
        # Older events come first and are context only; the new ones are the targets.
        assert not seq.is_target[: len(user_old)].any()
        assert seq.is_target[len(user_old) :].all()
        expected = user_old.sort_values("timestamp", kind="stable")["item_id"].map(index_of)
        np.testing.assert_array_equal(seq.items[: len(user_old)], expected.to_numpy())
    windows = training_windows(problem.sequences, max_len=20)
    # Targets are exactly the new training events that have something before them (a
    # user's very first event has nothing to be predicted from).
    assert windows.n_targets == sum(int(seq.is_target[1:].sum()) for seq in problem.sequences)
    assert problem.n_train_events - windows.n_targets == sum(
        bool(seq.is_target[0]) for seq in problem.sequences
    )
    assert len(problem.replay_sequences) == old["user_id"].nunique()
    # Popularity counts everything the model has learned from, not just the window.
    assert problem.popularity.sum() == len(old) + problem.n_train_events

    pool = training_windows(problem.replay_sequences, max_len=20)
    drawn = sample_windows(pool, 500, seed=7)
    assert 500 <= drawn.n_targets < 500 + 20  # whole windows: at most one window over
    again = sample_windows(pool, 500, seed=7)
    np.testing.assert_array_equal(drawn.inputs, again.inputs)


@pytest.mark.parametrize("stride", [None, 1, 7, 20])
def test_overlapping_windows_predict_every_event_once_with_enough_context(ml_slice, stride):
    from recloop.training.prepare import prepare_problem
    from recloop.training.sequences import training_windows

    events, items = ml_slice
    sequences = prepare_problem(events, items).sequences
    max_len = 20
    windows = training_windows(sequences, max_len=max_len, stride=stride)
    # Every event but a user's first is the target of exactly one window, whatever the stride.
    assert windows.n_targets == sum(len(seq.items) - 1 for seq in sequences)
    targets = windows.targets[windows.weights > 0]
    expected = np.concatenate([seq.items[1:] for seq in sequences])
    np.testing.assert_array_equal(np.sort(targets), np.sort(expected))
    # Only a user's first max_len - stride targets (in the oldest window) may see fewer than
    # max_len - stride + 1 earlier events.
    context = np.cumsum(windows.inputs > 0, axis=1)[windows.weights > 0]
    short = max_len - (stride or max_len)
    assert (context <= short).sum() <= sum(min(short, len(seq.items) - 1) for seq in sequences)
    if stride:
        assert len(windows) >= len(training_windows(sequences, max_len=max_len))
    with pytest.raises(ValueError, match="stride"):
        training_windows(sequences, max_len=max_len, stride=max_len + 1)


def test_a_time_budget_stops_before_an_epoch_that_would_overrun_it(
    ml_slice, tmp_path, embedding_cache_dir, make_settings
):
    """An epoch starts only if one as long as the last still ends within the budget; the
    result keeps the best weights so far, and an ample budget changes nothing."""
    from recloop.training.trainer import train_recommender

    events, items = ml_slice
    split = _loo(events)
    runs = {}
    for name, minutes in (("tight", 1e-4), ("ample", 60.0)):
        settings = make_settings(
            tmp_path,
            embedding_cache_dir,
            epochs=3,
            hidden_dim=24,
            max_train_minutes=minutes,
            budget_lr_decay=True,
        )
        runs[name] = train_recommender(
            settings, split.train, items, valid_events=split.valid, out_dir=tmp_path / name
        )
    assert runs["tight"].epochs == 1 and len(runs["tight"].history) == 1
    assert runs["tight"].model_dir.joinpath("model.safetensors").exists()
    assert runs["ample"].epochs == 3
    assert runs["ample"].history[0] == runs["tight"].history[0]  # same first epoch
    # With budget_lr_decay the rate falls linearly to zero at the last epoch that fits (here
    # the cap): full after the first epoch, half after the second, none after the third.
    lr = settings.train.lr
    assert [row["lr"] for row in runs["ample"].history] == pytest.approx([lr, lr / 2, 0.0])


def test_without_a_budget_the_learning_rate_stays_constant_after_warm_up(
    ml_slice, tmp_path, embedding_cache_dir, make_settings
):
    from recloop.training.trainer import train_recommender

    events, items = ml_slice
    split = _loo(events)
    for name, train in (
        ("unbudgeted", {}),
        ("budget_default_no_decay", {"max_train_minutes": 60.0}),
    ):
        settings = make_settings(tmp_path, embedding_cache_dir, epochs=3, hidden_dim=24, **train)
        result = train_recommender(
            settings, split.train, items, valid_events=split.valid, out_dir=tmp_path / name
        )
        assert [row["lr"] for row in result.history] == [settings.train.lr] * 3, name
