"""unet/testing"""
