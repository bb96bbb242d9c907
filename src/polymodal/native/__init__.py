"""Native libraries behind checked calls, each runnable where its crash is contained.

    worker.py   Native: an object built and called in this process, or (in the server) in a
                worker process that is restarted when the library aborts or segfaults
    sphinx.py   the pocketsphinx decoder (speech recognition)
    ocr.py      RapidOCR (text detection and recognition on ONNX Runtime)

eSpeak NG's ctypes binding is speech/espeak.py; it runs through a Native like these. Modules
here import only core, so that a worker process starts in a fraction of a second.
"""
