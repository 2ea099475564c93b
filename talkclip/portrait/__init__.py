"""Animating a real photo: face detection, a landmark-driven warp of the portrait, PIRenderer.

- ``image``: reading a portrait (formats, EXIF orientation) with clear errors.
- ``detect``: dlib face detection + 68 landmarks, several / tiny / no faces, the square crop.
- ``driver``: embedded-space expressions + head pose -> positions of the warp's control points,
  through the embedded face model's exact landmark displacements.
- ``warp``: piecewise-affine backward warp over a fixed triangulation of those points.
- ``mouth``: the mouth interior (cavity, teeth) where the lips part.
- ``motion``: head pose: natural idle motion or a reference clip's.
- ``provenance``: marking the output as synthetic (metadata, optional visible mark).
- ``renderer``: the landmark-warp renderer that puts these together, frame by frame.
- ``pirenderer``: StyleTalk's released PIRenderer architecture, for BFM-space models.

The warp renderer is a 2D image warp driven by landmarks, not a neural renderer: it moves the
pixels of the photo and paints the mouth interior, it cannot show what the photo does not contain
(the side of the head, hair behind the ears) and it keeps the photo's lighting.
"""
