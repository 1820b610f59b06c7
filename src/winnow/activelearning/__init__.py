"""Active learning: what to collect, within which budget, and how it reaches the platform.

Modules: ``config`` (the document users write), ``samplers`` (strategy
evaluation on a prediction), ``limits`` (budget backends), ``batching``
(batch names), ``prepare`` (resize, encode, rescale), ``outbox`` (durable
queue), ``delivery`` (worker and platform client protocol), ``collector``
(the entry point the inference server and stream runner call).
"""
