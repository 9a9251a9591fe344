"""ragperf: keeps torch.compile honest for RAG and LLM inference.

Library API (the pytest plugin and the ``ragperf`` command are thin layers over it):

- :mod:`ragperf.model_sources`  where a model named on the command line comes from
- :mod:`ragperf.embedders`      sentence-transformers embedders split for torch.compile
- :mod:`ragperf.ladder`         the Graviton RAG blog's optimization ladder
- :mod:`ragperf.decoders`       GPT-2 / Llama decoders with dummy or local weights
- :mod:`ragperf.generation`     a plain prefill + decode loop and its compile modes
"""

__version__ = "0.1.0"
