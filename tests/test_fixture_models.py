import transformers
from PIL import Image

from qbench_tasks.demo.model import IMAGE_SIZE, PATCH_SIZE, demo_tokenizer
from qbench_tasks.prompts import A3_CHOICE_WORDS


def test_tokenizer_keeps_choice_words_and_image_token_whole():
    tok = demo_tokenizer()
    for word in A3_CHOICE_WORDS:
        assert len(tok(" " + word, add_special_tokens=False)["input_ids"]) == 1
    ids = tok("<image>Rate the quality of the image.", add_special_tokens=False)["input_ids"]
    assert ids[0] == tok.convert_tokens_to_ids("<image>")
    assert tok.decode(ids[1:]) == "Rate the quality of the image."
    assert tok("x")["input_ids"][0] == tok.bos_token_id


def test_tiny_model_loads_through_auto_classes_and_expands_the_image(tiny_model):
    processor = transformers.AutoProcessor.from_pretrained(tiny_model)
    model = transformers.AutoModelForImageTextToText.from_pretrained(tiny_model)
    assert model.config.model_type == "llava"
    encoding = processor(text="<image>hi", images=Image.new("RGB", (90, 70)), return_tensors="pt")
    image_tokens = (encoding["input_ids"] == model.config.image_token_id).sum().item()
    assert image_tokens == (IMAGE_SIZE // PATCH_SIZE) ** 2
    assert model(**encoding).logits.shape[1] == encoding["input_ids"].shape[1]
