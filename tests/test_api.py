"""The Python surface: build a model by names, train it, load it back as a pipeline."""
import polymodal as pm


def test_build_train_and_load_from_python(tmp_path):
    model = pm.build("vqa", data="shapes:sort-of-clevr:train", n=8, encoders={"image": "cnn", "text": "transformer"},
                     fusion="late:weighted")
    assert sorted(model.modalities) == ["image", "text"]
    assert set(model.config.labels) <= {"yes", "no", "square", "circle", "1", "2", "3", "4", "5", "6"}
    result = pm.train(model, data="shapes:sort-of-clevr:train", n=8, out=tmp_path / "run", epochs=1, batch_size=4)
    assert result["step"] == 2
    vqa = pm.load("vqa", str(tmp_path / "run" / "model"))
    scene = pm.data.shapes(preset="sort-of-clevr", split="test", seed=1, n=1)[0]
    answer = vqa(image=scene.image, question=scene.questions[0].question)
    assert answer.text in model.config.labels and 0 < answer.score <= 1
    assert len(vqa.batch([(scene.image, q.question) for q in scene.questions])) == 20
