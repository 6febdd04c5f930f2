"""unet/io"""
