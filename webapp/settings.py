"""The web app's fixed settings and texts: limits, queue, choices, disclaimer, privacy, style."""

from __future__ import annotations

from pathlib import Path

from unet.inference.registry import ORGANS
from unet.io.uploads import UPLOAD_SUFFIXES

# Uploads larger than this are refused by Gradio before our code sees them.
MAX_FILE_SIZE = "50mb"
# Queue for a 2-vCPU Space: TensorFlow already uses both cores for one image, so model runs
# go one at a time (concurrency_id "model", limit 1), while cheap re-renders (sliders) may run
# two at a time beside a model run. At most 16 waiting requests; more are told to retry.
QUEUE = {"default_concurrency_limit": 2, "max_size": 16}
# Gradio's cache (uploads and returned files): every 5 min delete files older than 15 min.
DELETE_CACHE = (300, 900)
# A session's cached analysis (the decoded image and its maps) is dropped 15 min after its
# last change, or soon after the tab is closed.
STATE_TTL_S = 900
MAX_BATCH_IMAGES = 100  # per Batch run; more are listed as not processed

UPLOAD_TYPES = list(UPLOAD_SUFFIXES)
ORGAN_CHOICES = [(organ.display_name, key) for key, organ in ORGANS.items()]
DEFAULT_ORGAN = next(iter(ORGANS))
DISPLAY_CHOICES = [("Filled mask", "filled"), ("Contour", "contour"),
                   ("Probability heat map", "heatmap"), ("Uncertainty map", "uncertainty")]
N_FEATURE_LAYERS = 4  # feature-map galleries on the teaching tab

DISCLAIMER_MD = (
    "**Research and teaching demo — not a medical device, not for diagnosis.** "
    "Do not use its output for any clinical decision."
)
PRIVACY_MD = (
    "**Privacy.** Your image is used only to answer your requests. Uploaded files and result "
    "files are deleted from the server within about 20 minutes; the decoded image stays in the "
    "server's memory (so that the sliders work without running the model again) until you close "
    "this tab, or 15 minutes after your last change. Result files are named after the organ, "
    "the time and a short code of the image's pixels (`breast_20261127-141205_3fa9c2d1_mask.png`), "
    "never after your file; only the *Batch* tab's zip and table name each result after its "
    "file, so that you can tell them apart. Nothing is logged but errors, and never image data "
    "or DICOM tags. Still: remove patient names from file names before uploading."
)
# the app's own styles: webapp/style.css (shipped with the package, read once at import)
CSS = Path(__file__).with_name("style.css").read_text(encoding="utf-8")
# Runs in the browser after a new result: on a phone (narrow screen) the result lies below the
# inputs and the examples, so it is scrolled into view; on a wide screen it is beside them.
SCROLL_TO_RESULT = ("() => { if (window.innerWidth < 768) { document.querySelector("
                    "'#result-tabs')?.scrollIntoView({behavior: 'smooth', block: 'start'}); } }")
# Runs in the browser before a new file is handled: closes the warnings of an earlier file.
CLEAR_TOASTS = ("(...args) => { document.querySelectorAll('.toast-close')"
                ".forEach((button) => button.click()); return args; }")
PRIVATE = {"api_visibility": "private"}
