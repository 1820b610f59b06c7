"""HTTP plumbing shared by the inference server and the platform, and nothing else.

``body`` reads request bodies under a byte cap (413 beyond it), ``jsonbody``
parses JSON bodies (400 naming the problem, depth capped by the parser's
recursion limit), ``jsonresponse`` renders JSON answers with orjson, ``heap``
settles the garbage collector once a server has started, ``forms`` reads multipart uploads with caps per part,
``auth`` is the one parser of ``Authorization: Bearer`` / ``api_key``,
``origin`` the one cross-origin test of browser writes, ``errors`` installs
the error handlers every winnow app uses, and ``protocols`` holds the uvicorn
protocols that drop clients too slow to send their request.

This package imports only Starlette/FastAPI (and uvicorn in ``protocols``), orjson, ``winnow.errors`` and
``winnow.stale`` (the rate-limited failure log): importing it loads no
database, model or active learning code.
"""
