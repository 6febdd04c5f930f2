"""unet/trust"""
