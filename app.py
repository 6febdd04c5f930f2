"""Gradio web app: U-Net tumour segmentation of breast and thyroid ultrasound images.

Run with ``python app.py`` (a Hugging Face Space does the same). The server address and port
come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT. The app itself lives in ``webapp/``
(``webapp.app``), the image and model work in ``unet/``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

from webapp.app import build_demo, launch, main  # noqa: E402

__all__ = ["build_demo", "launch", "main"]

if __name__ == "__main__":
    main()
