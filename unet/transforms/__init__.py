"""unet/transforms"""
