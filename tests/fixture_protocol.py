"""A module written to the Q-Bench submission protocol, on the signal fixture LLaVA: what a
submitter would write for their model (``model_wrappers/qbench_protocol.py`` reads it)."""

import torch
import transformers

_loaded = {}  # the Model built last; embed_image_and_text uses its vision tower and embeddings


class Model:
    def __init__(self, pretrained):
        self.llava = transformers.LlavaForConditionalGeneration.from_pretrained(pretrained).eval()
        self.processor = transformers.AutoProcessor.from_pretrained(pretrained)
        _loaded["model"] = self

    def __call__(self, input_embeds):
        return self.llava(inputs_embeds=input_embeds)

    def generate(self, input_embeds, max_new_tokens):
        return self.llava.generate(inputs_embeds=input_embeds, max_new_tokens=max_new_tokens, do_sample=False)


class Tokenizer:
    def __init__(self, pretrained):
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(pretrained)

    def encode(self, text):
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids):
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def embed_image_and_text(image, prompt):
    model = _loaded["model"]
    inputs = model.processor(text=prompt, images=image, return_tensors="pt")
    embeds = model.llava.get_input_embeddings()(inputs["input_ids"])
    features = torch.cat(list(model.llava.model.get_image_features(pixel_values=inputs["pixel_values"]).pooler_output))
    where = (inputs["input_ids"] == model.llava.config.image_token_id).unsqueeze(-1).expand_as(embeds)
    return embeds.masked_scatter(where, features.to(embeds.dtype))
