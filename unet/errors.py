"""The one exception type the project raises for input a user can fix."""


class ImageInputError(ValueError):
    """An uploaded file cannot be used as an ultrasound image.

    The message is written for a clinician: it says what is wrong with the file and,
    where possible, what to do instead. It never contains pixel data or DICOM tag values.
    """
