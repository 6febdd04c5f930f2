"""The web app's fixed settings and texts: limits, queue, choices, disclaimer, privacy, style."""

from __future__ import annotations

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
    "never after your file. Nothing is logged but errors, and never image data or DICOM "
    "tags. Still: remove patient names from file names before uploading."
)
CSS = """
.disclaimer {border-left: 6px solid #d97706; background: #fffbeb; padding: 8px 14px;
             border-radius: 6px; color: #1f2937;}
.disclaimer p {margin: 0 !important;}
/* Gradio gives the class to the block and to the text inside it: one frame, not two */
.disclaimer .disclaimer {border-left: none !important; background: none !important;
                         padding: 0 !important;}
/* the upload area's icon below its label, not under it (on a phone they overlapped) */
#upload .icon-wrap {margin-top: 16px;}
.disclaimer *, .status-box *, #status span.md:has(p) * {color: #1f2937 !important;}
.status-box {border-left: 6px solid #dc2626; background: #fef2f2; padding: 8px 14px;
             border-radius: 6px; color: #1f2937;}
.small-note {font-size: 0.9em; opacity: 0.85;}
#prompt-hint span.md:has(p) {display: block; border-left: 6px solid #2563eb;
                             background: #eff6ff; padding: 6px 12px; border-radius: 6px;}
#prompt-hint span.md:has(p) * {color: #1f2937 !important;}

/* the lesion table: a number never broken across lines (Gradio's wrap breaks inside words);
   smaller type on a phone's width so that six columns fit */
#lesion-table span.text {word-break: normal; overflow-wrap: normal;}
@media (max-width: 480px) {#lesion-table span.text {font-size: 12px;}}
/* tables in text (model card, teaching tab): a column is at least as wide as its longest word
   (Gradio's prose breaks "Images" and data set names anywhere); a table wider than a phone's
   screen scrolls sideways instead of widening the page */
.prose td, .prose th {word-break: normal !important; overflow-wrap: break-word !important;}
@media (max-width: 600px) {.prose table {display: block; overflow-x: auto;}}
/* the teaching tab's layer table: sizes whole; smaller on a phone, where it fits */
#architecture td:nth-child(2), #architecture td:nth-child(3) {white-space: nowrap;}
#architecture pre {overflow-x: auto;}
@media (max-width: 480px) {#architecture table {font-size: 12px;}
                           #architecture td, #architecture th {padding: 4px 6px !important;}}
/* the teaching tab's feature maps: the four tiles side by side at any width (a phone's showed
   three, the fourth cut off), and no empty box under them */
.feature-maps .grid-wrap {min-height: 0 !important; height: auto !important;
                          max-height: none !important;}
.feature-maps .grid-container {grid-template-columns: repeat(4, minmax(0, 1fr)) !important;}
@media (max-width: 480px) {.feature-maps .caption-label {font-size: 11px; padding: 1px 4px;}}
/* the batch tab's overlays: as tall as their rows (a few images left an empty box below) */
#batch-gallery .grid-wrap {min-height: 0 !important;}
#status span.md:has(p) {display: block; border-left: 6px solid #dc2626; background: #fef2f2;
                        padding: 8px 14px; border-radius: 6px; color: #1f2937;}
"""
# Runs in the browser after a new result: on a phone (narrow screen) the result lies below the
# inputs and the examples, so it is scrolled into view; on a wide screen it is beside them.
SCROLL_TO_RESULT = ("() => { if (window.innerWidth < 768) { document.querySelector("
                    "'#result-tabs')?.scrollIntoView({behavior: 'smooth', block: 'start'}); } }")
# Runs in the browser before a new file is handled: closes the warnings of an earlier file.
CLEAR_TOASTS = ("(...args) => { document.querySelectorAll('.toast-close')"
                ".forEach((button) => button.click()); return args; }")
PRIVATE = {"api_visibility": "private"}
