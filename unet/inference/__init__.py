"""unet/inference"""
