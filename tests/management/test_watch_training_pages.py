"""A training run as people see it: a card on /models/, a page of its own, a notice on every page, the API."""

from __future__ import annotations

from django.urls import reverse

from engine.train import Progress
from management.models import TrainingRun
from management.services import training_run_finish, training_run_progress, training_run_start
from tests.management.conftest import makedata, paragraphs


def step(run, n: int, fraction: float, *, sample: str | None = None) -> None:
    progress = Progress(
        epoch=n // 10,
        epochs=3,
        step=n,
        fraction=fraction,
        chars_per_s=4321.0,
        eta_s=12.0,
        train_loss=2.5,
        val_bpc=3.9 if sample else None,
        sample=sample,
    )
    training_run_progress(run=run, progress=progress)


def test_a_run_under_way_shows_its_card_its_samples_and_a_notice_on_every_page(client, db):
    run = training_run_start(options={"mode": "initial"})
    step(run, 5, 0.2)
    step(run, 10, 0.34, sample="그때 <b>바다</b>가 울었다.")

    page = client.get(reverse("models")).content.decode()

    assert "지금 AI가 공부하는 중" in page and f'data-run="{run.pk}"' in page
    assert "data-run-percent>34<" in page and "4321" in page
    assert "그때 &lt;b&gt;바다&lt;/b&gt;가 울었다." in page  # a sample is text, never markup
    assert '"step": 10' in page  # the curve's points, for the page to draw and extend
    home = client.get(reverse("home")).content.decode()
    assert "data-training-notice" in home and f"/models/runs/{run.pk}/" in home
    assert "data-training-notice href" in home and " hidden>" not in home.split("data-training-notice")[1][:200]
    own = client.get(reverse("training-run", args=[run.pk]))
    assert own.status_code == 200 and "1번째 공부 뒤" in own.content.decode()


def test_when_no_run_is_under_way_the_notice_is_hidden(client, db):
    run = training_run_start(options={})
    training_run_finish(run=run, status=TrainingRun.Status.FAILED, exit_code=1, reason="interrupted")

    home = client.get(reverse("home")).content.decode()

    assert " hidden>" in home.split("data-training-notice")[1][:300]


def test_a_run_page_that_does_not_exist_is_a_404(client, db):
    assert client.get(reverse("training-run", args=[999])).status_code == 404


def test_a_real_run_records_its_phases_progress_curve_and_samples(model_dir, approved_novel, source_text, client):
    outcome = makedata(max_steps=30)

    run = TrainingRun.objects.get(pk=outcome.run.pk)
    assert run.phase == TrainingRun.Phase.DONE and run.progress["fraction"] == 1.0
    assert run.progress["step"] == 30 and run.progress["chars_per_s"] > 0
    steps = [p["step"] for p in run.points]
    assert steps == sorted(steps) and steps[-1] == 30 and all("train_bpc" in p for p in run.points)
    assert run.samples and all(s["text"].startswith("그때") for s in run.samples)
    # Written as the site writes, with what a model in training has (the n-gram comes after the last epoch).
    assert run.samples[0]["parts"] == [
        "이야기 기억",
        "비슷한 장면 떠올리기",
        "베껴 쓰기 막기",
        "다른 소설 인물 막기",  # the demo texts' people, found when the run began
        "이야기에 맞추기",
        "문장마다 4개 중 고르기",
    ]
    page = client.get(reverse("training-run", args=[run.pk])).content.decode()
    assert "켠 것: 이야기 기억 · 비슷한 장면 떠올리기 · 베껴 쓰기 막기" in page

    listed = client.get("/api/training-runs/").json()
    assert listed["results"][0]["id"] == run.pk and listed["results"][0]["phase"] == "done"
    detail = client.get(f"/api/training-runs/{run.pk}/").json()
    assert detail["samples"] == run.samples and detail["points"] == run.points
    assert client.get("/api/training-runs/999/").status_code == 404


def test_manage_py_train_records_its_run_and_leaves_the_site_model_alone(db, tmp_path, capsys):
    from django.core.management import call_command

    novels = tmp_path / "novels"
    novels.mkdir()
    (novels / "harbor.txt").write_text("\n".join(paragraphs("01_harbor_town.txt")[:20]), encoding="utf-8")

    call_command("train", "--src", str(novels), "--out", str(tmp_path / "save"), "--size", "tiny", "--epochs", "2")

    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.TRAINED and run.exit_code == 0 and run.version is None
    assert run.options["command"] == "train" and run.options["src"] == [str(novels)]
    assert [s["epoch"] for s in run.samples] == [1, 2] and run.progress["fraction"] == 1.0
    assert "best.pt" in run.reason


def test_a_run_that_stopped_telling_of_itself_no_longer_shows_as_under_way(client, db):
    from datetime import timedelta

    from django.utils import timezone

    run = training_run_start(options={"command": "train"})
    assert list(TrainingRun.objects.under_way()) == [run]
    TrainingRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(hours=1))  # killed outright

    assert not TrainingRun.objects.under_way().exists()
    assert " hidden>" in client.get(reverse("home")).content.decode().split("data-training-notice")[1][:300]
