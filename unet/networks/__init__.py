"""unet/networks"""
