"""The seeds' RAG flow under test: corpus on loopback HTTP, LangChain loader and splitter, ladder embeddings, FAISS.

- :mod:`ragperf.rag.corpus`      linked HTML pages (installed packages' docs + authored notes) and known answers
- :mod:`ragperf.rag.server`      a real HTTP server on 127.0.0.1 serving them
- :mod:`ragperf.rag.embeddings`  a LangChain ``Embeddings`` over any ladder variant, with bounded shapes
- :mod:`ragperf.rag.pipeline`    crawl, split, index, retrieve, prompt; timings and retrieval metrics

The ``ragperf run`` section that measures it per variant is :mod:`ragperf.jobs.rag`.
"""
