"""Deterministic renderer of the embedded corpus: (identity, expression, pose) -> RGB frames + 68 landmarks.

Each frame is drawn with PIL ImageDraw at ``supersample`` times the output size and box-downsampled
(anti-aliasing). Everything geometric comes from the face model's projected points, and the
landmarks returned are exactly the projected model landmarks used for drawing, mapped to output
pixel coordinates (pixel centres at integers): a point at output ``x`` is drawn at
``supersample * x + (supersample - 1) / 2`` on the large canvas, which is the same position after
the box filter.

Drawing order: background and shoulders (cached), hair behind the head, ears, neck, face oval (with
side shading and the flush colour), hair in front, cheek / forehead / glabella / nose / chin shading,
eyes (white, iris, pupil, lids covering the iris, lash line, crease), brows, nose, lips (outer,
mouth interior, tongue, teeth).

``Renderer`` is the interface evaluation uses to turn predicted expressions into video: a real
PIRenderer checkpoint can implement it for real data; ``EmbeddedRenderer`` implements it for
embedded-corpus identities.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
from PIL import Image, ImageDraw

from talkclip.corpus.face_model import (
    CAMERA_DISTANCE,
    EYE_LINE_ROW,
    N_LANDMARKS,
    PIXELS_PER_UNIT,
    POSE_DIM,
    FaceModel,
    check_pose,
    project,
)
from talkclip.corpus.identity import Identity
from talkclip.expression import COMPONENT_INDEX, EXPRESSION_DIM, check_expression

MARKER_RGB = (0, 255, 0)


def _catmull_rom_matrix(n_ctrl: int, samples_per_segment: int, closed: bool) -> np.ndarray:
    """(n_dense, n_ctrl) matrix: dense = M @ control gives a Catmull-Rom curve through the points."""
    n_seg = n_ctrl if closed else n_ctrl - 1
    rows = []
    for seg in range(n_seg):
        for k in range(samples_per_segment):
            t = k / samples_per_segment
            # Catmull-Rom weights of p0..p3 for the segment p1 -> p2.
            w = 0.5 * np.array([
                -t**3 + 2 * t**2 - t,
                3 * t**3 - 5 * t**2 + 2,
                -3 * t**3 + 4 * t**2 + t,
                t**3 - t**2,
            ])
            row = np.zeros(n_ctrl)
            for j, wj in zip(range(seg - 1, seg + 3), w):
                idx = j % n_ctrl if closed else min(max(j, 0), n_ctrl - 1)
                row[idx] += wj
            rows.append(row)
    if not closed:
        last = np.zeros(n_ctrl)
        last[-1] = 1.0
        rows.append(last)
    return np.array(rows)


def _flat(points: np.ndarray) -> list[float]:
    return points.ravel().tolist()


def _shade(rgb: np.ndarray | tuple[int, ...], factor: float) -> tuple[int, int, int]:
    c = np.clip(np.asarray(rgb, dtype=float) * factor, 0, 255)
    return int(c[0]), int(c[1]), int(c[2])


def _mix(a: tuple[int, ...], b: tuple[int, ...], t: float) -> tuple[int, int, int]:
    c = np.clip((1 - t) * np.asarray(a, float) + t * np.asarray(b, float), 0, 255)
    return int(c[0]), int(c[1]), int(c[2])


def _rgba(rgb: tuple[int, ...], alpha: float) -> tuple[int, int, int, int]:
    return int(rgb[0]), int(rgb[1]), int(rgb[2]), int(min(max(alpha, 0.0), 255.0))


class FaceRenderer:
    """Renders one identity. ``render`` is a pure function of (expression, pose)."""

    def __init__(self, identity: Identity, image_size: int = 128, supersample: int = 2) -> None:
        if image_size < 32:
            raise ValueError(f"FaceRenderer: image_size must be >= 32, got {image_size}")
        if supersample not in (1, 2, 3, 4):
            raise ValueError(f"FaceRenderer: supersample must be 1..4, got {supersample}")
        self.identity = identity
        self.image_size = image_size
        self.supersample = supersample
        self.canvas_size = image_size * supersample
        self.model = FaceModel.build(identity)
        self.unit = PIXELS_PER_UNIT * image_size * supersample  # canvas pixels per face unit (frontal)
        g = self.model.groups
        self._g = g
        # Spline matrices (shared by all frames).
        self._m_face = _catmull_rom_matrix(17 + (g["forehead"].stop - g["forehead"].start), 3, closed=True)
        self._m_eye = _catmull_rom_matrix(6, 4, closed=True)
        self._m_brow = _catmull_rom_matrix(5, 3, closed=False)
        self._m_outer_lips = _catmull_rom_matrix(12, 3, closed=True)
        self._m_lip_line = _catmull_rom_matrix(5, 4, closed=False)
        self._m_crease = _catmull_rom_matrix(3, 4, closed=False)
        n_hair = g["hair_front"].stop - g["hair_front"].start
        self._m_hair_front = _catmull_rom_matrix(n_hair, 2, closed=True)
        n_back = g["hair_back"].stop - g["hair_back"].start
        self._m_hair_back = _catmull_rom_matrix(n_back, 3, closed=True) if n_back else None
        # Colours.
        idt = identity
        self.skin = np.array(idt.skin_rgb, dtype=float)
        self.hair = idt.hair_rgb
        self.brow_rgb = _mix(idt.hair_rgb, (35, 28, 24), 0.35)
        self.lash_rgb = _mix(idt.hair_rgb, (20, 15, 15), 0.7)
        self.lip_lower = idt.lip_rgb
        self.lip_upper = _shade(idt.lip_rgb, 0.88)
        self._cheek_rgb = _mix(_shade(self.skin, 1.0), (235, 120, 115), 0.45)
        self._background = self._draw_background()

    # ------------------------------------------------------------------ static parts
    def _draw_background(self) -> Image.Image:
        S, idt = self.canvas_size, self.identity
        top = np.array(idt.background_rgb, dtype=float) * 1.04
        bottom = np.array(idt.background_rgb, dtype=float) * 0.86
        ramp = np.linspace(0, 1, S)[:, None]
        column = np.clip(top * (1 - ramp) + bottom * ramp, 0, 255).astype(np.uint8)
        img = Image.fromarray(np.repeat(column[:, None, :], S, axis=1), "RGB")
        draw = ImageDraw.Draw(img)
        # Shoulders: static (the body does not follow the head), below the neck.
        cx = (S - 1) / 2
        u = self.unit
        neck_y = EYE_LINE_ROW * S + u * (idt.jaw_depth + 0.55)
        shirt = idt.shirt_rgb
        draw.polygon([(cx - 0.62 * u, neck_y), (cx - 1.9 * u, neck_y + 0.28 * u), (cx - 2.6 * u, S + 2),
                      (cx + 2.6 * u, S + 2), (cx + 1.9 * u, neck_y + 0.28 * u), (cx + 0.62 * u, neck_y)], fill=shirt)
        self._neck_bottom_y = neck_y + 0.22 * u
        return img

    # ------------------------------------------------------------------ main entry
    def render(self, expression: np.ndarray, pose: np.ndarray, mark_landmarks: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(T, 64) expression and (T, 6) pose -> frames (T, H, W, 3) uint8 and landmarks (T, 68, 2) float32.

        ``mark_landmarks`` draws a one-output-pixel marker in ``MARKER_RGB`` at every landmark (for
        checking that the returned landmarks are where things are drawn).
        """
        expr = check_expression(expression, "FaceRenderer.render expression")
        pose_arr = check_pose(pose, len(expr), "FaceRenderer.render pose")
        pts3 = self.model.points(expr)
        pix = project(pts3, pose_arr, self.image_size)  # (T, P, 2) output pixels
        landmarks = pix[:, :N_LANDMARKS].astype(np.float32)
        ss = self.supersample
        canvas = pix * ss + (ss - 1) / 2.0
        # Perspective/zoom factor per frame, so sizes (line widths, iris radius) follow the head.
        zoom = (CAMERA_DISTANCE / (CAMERA_DISTANCE - pose_arr[:, 5])).astype(float)
        frames = np.empty((len(expr), self.image_size, self.image_size, 3), dtype=np.uint8)
        for t in range(len(expr)):
            img = self._draw_frame(canvas[t], expr[t], zoom[t], mark_landmarks)
            if ss > 1:
                img = img.reduce(ss)
            frames[t] = np.asarray(img)
        return frames, landmarks

    # ------------------------------------------------------------------ one frame
    def _draw_frame(self, p: np.ndarray, e: np.ndarray, zoom: float, mark: bool) -> Image.Image:
        g, idt = self._g, self.identity
        c = COMPONENT_INDEX
        u = self.unit * zoom  # canvas pixels per face unit
        img = self._background.copy()
        draw = ImageDraw.Draw(img, "RGBA")

        def ev(name: str) -> float:
            return float(e[c[name]])

        # Face orientation on screen (handles roll): "up" from chin to nose bridge.
        up = p[27] - p[8]
        up /= max(np.hypot(*up), 1e-6)
        right = np.array([-up[1], up[0]])  # perpendicular to "up", towards the image right

        flush = ev("face_flush")
        skin = self.skin + (np.array([22.0, -8.0, -10.0]) * flush if flush > 0 else np.array([-6.0, 4.0, 8.0]) * flush)
        skin_rgb = _shade(skin, 1.0)
        skin_dark = _shade(skin, 0.86)
        skin_shadow = _shade(skin, 0.62)

        # Hair behind the head.
        if self._m_hair_back is not None:
            draw.polygon(_flat(self._m_hair_back @ p[g["hair_back"]]), fill=_shade(self.hair, 0.85))
        # Ears.
        ear = p[g["ear"]]
        for top, bottom, out_sign in ((ear[0], ear[1], -1.0), (ear[2], ear[3], 1.0)):
            centre = 0.5 * (top + bottom) + right * out_sign * 0.1 * u * idt.ear_size
            h = 0.5 * np.hypot(*(top - bottom))
            w = 0.42 * h
            draw.ellipse([centre[0] - w, centre[1] - h, centre[0] + w, centre[1] + h], fill=skin_dark)
            draw.ellipse([centre[0] - 0.45 * w, centre[1] - 0.6 * h, centre[0] + 0.45 * w, centre[1] + 0.5 * h],
                         fill=_rgba(skin_shadow, 110))
        # Neck: from the lower jaw down to the neckline, narrower than the jaw.
        jaw = p[0:17]
        nb = self._neck_bottom_y
        left_x, right_x = jaw[4, 0] + 0.2 * u, jaw[12, 0] - 0.2 * u
        neck = np.concatenate([jaw[4:13], [[right_x, nb], [left_x, nb]]])
        draw.polygon(_flat(neck), fill=_shade(skin, 0.78))  # in the jaw's shadow
        draw.polygon(_flat(np.array([[left_x, nb - 0.05 * u], [right_x, nb - 0.05 * u], [right_x, nb], [left_x, nb]])),
                     fill=_rgba(skin_shadow, 60))

        # Face oval with darker sides: full outline in the shadow tone, a shrunk copy in skin tone.
        outline = self._m_face @ np.concatenate([jaw, p[g["forehead"]][::-1]])
        draw.polygon(_flat(outline), fill=_shade(skin, 0.9))
        centre = p[30] * 0.6 + p[29] * 0.4
        inner = centre + (outline - centre) * np.array([0.88, 0.94])
        draw.polygon(_flat(inner), fill=skin_rgb)
        # Under-chin shadow on the neck is the neck colour; a soft jaw line helps the chin read.
        draw.line(_flat(jaw[5:12]), fill=_rgba(skin_shadow, 70), width=max(1, int(0.03 * u)))

        # Hair in front (cap / fringe).
        draw.polygon(_flat(self._m_hair_front @ p[g["hair_front"]]), fill=self.hair)

        # ---- shading that expressions create ----
        line_w = max(1, round(0.022 * u))
        for side, cheek_i in (("r", 0), ("l", 1)):
            cr = max(ev(f"cheek_raise_{side}"), 0.0)
            cheek = p[g["cheek"]][cheek_i]
            rad = 0.2 * u
            # A rosy highlight that rises with the cheek.
            draw.ellipse([cheek[0] - rad, cheek[1] - 0.75 * rad, cheek[0] + rad, cheek[1] + 0.75 * rad],
                         fill=_rgba(self._cheek_rgb, 8 + 100 * min(cr, 1.0)))
        # Nasolabial folds: from the nose wing round the mouth corner.
        for side, k, corner in (("r", 0, 48), ("l", 1, 54)):
            depth = ev(f"nasolabial_deepen_{side}") + 0.6 * ev(f"lip_corner_pull_{side}") + 0.4 * ev(f"cheek_raise_{side}") \
                + 0.5 * ev("upper_lip_raise")
            start, end = p[g["ala"]][k], p[g["nasolabial"]][k]
            mid = 0.5 * (start + end) + (start - p[30]) * 0.25 + (p[corner] - end) * 0.05
            draw.line(_flat(np.array([start, mid, end])), fill=_rgba(skin_shadow, 35 + 170 * np.clip(depth, 0, 1)),
                      width=line_w, joint="curve")
        # Forehead lines (frontalis).
        raise_amt = ev("forehead_furrow") + 0.45 * (ev("brow_inner_raise_l") + ev("brow_inner_raise_r")
                                                  + ev("brow_outer_raise_l") + ev("brow_outer_raise_r")) * 0.5
        if raise_amt > 0.05:
            a = _rgba(skin_shadow, 160 * min(raise_amt, 1.0))
            for k, off in enumerate((0.16, 0.27, 0.38)):
                l_pt, r_pt = p[19] + up * off * u, p[24] + up * off * u
                mid = 0.5 * (p[21] + p[22]) + up * (off + 0.04) * u
                draw.line(_flat(np.array([l_pt, mid, r_pt])), fill=a, width=line_w, joint="curve")
        # Glabella lines (corrugator).
        frown = ev("glabella_furrow") + 0.6 * 0.5 * (ev("brow_draw_together_l") + ev("brow_draw_together_r")) \
            + 0.3 * 0.5 * (ev("brow_lower_l") + ev("brow_lower_r"))
        if frown > 0.05:
            a = _rgba(skin_shadow, 200 * min(frown, 1.0))
            mid = 0.5 * (p[21] + p[22])
            half = 0.22 * (p[22] - p[21])
            for sgn in (-1.0, 1.0):
                top = mid + sgn * half + up * 0.02 * u
                draw.line(_flat(np.array([top, top - up * 0.17 * u + sgn * half * 0.2])), fill=a, width=line_w)
        # Nose wrinkles (AU9).
        wrinkle = 0.5 * (ev("nose_wrinkle_l") + ev("nose_wrinkle_r"))
        if wrinkle > 0.05:
            a = _rgba(skin_shadow, 210 * min(wrinkle, 1.0))
            for off in (0.0, 0.07, 0.14):
                centre_pt = p[28] + (p[27] - p[28]) * 0.3 - up * off * u
                half = right * (0.10 + 0.4 * off) * u
                draw.line(_flat(np.array([centre_pt - half, centre_pt - up * 0.02 * u, centre_pt + half])), fill=a,
                          width=line_w, joint="curve")

        # ---- eyes ----
        iris_r = 0.5 * 0.44 * idt.eye_width * u
        pupil_r = iris_r * 0.45 * (1.0 + 0.35 * np.clip(ev("pupil_dilate"), -1, 1.5))
        for side, eye_sl, iris_k, crease_name in (("r", slice(36, 42), 0, "crease_r"), ("l", slice(42, 48), 1, "crease_l")):
            eye_pts = p[eye_sl]
            # Order both eyes as outer corner -> upper lid -> inner corner -> lower lid.
            if side == "l":
                eye_pts = eye_pts[[3, 2, 1, 0, 5, 4]]
            dense = self._m_eye @ eye_pts  # closed; first 13 samples are the upper lid (outer -> inner)
            upper = dense[: 3 * 4 + 1]
            lower = np.concatenate([dense[3 * 4:], dense[:1]])
            draw.polygon(_flat(dense), fill=(238, 236, 232))
            ic = p[g["iris"]][iris_k]
            draw.ellipse([ic[0] - iris_r, ic[1] - iris_r, ic[0] + iris_r, ic[1] + iris_r], fill=idt.iris_rgb)
            draw.ellipse([ic[0] - pupil_r, ic[1] - pupil_r, ic[0] + pupil_r, ic[1] + pupil_r], fill=(18, 14, 14))
            hl = 0.3 * iris_r
            hc = ic + np.array([0.35, -0.4]) * iris_r
            draw.ellipse([hc[0] - hl, hc[1] - hl, hc[0] + hl, hc[1] + hl], fill=(250, 250, 250, 220))
            # Lids cover whatever of the iris lies outside the eye opening.
            cover = 2.2 * iris_r + 2
            draw.polygon(_flat(np.concatenate([upper, (upper + up * cover)[::-1]])), fill=skin_rgb)
            draw.polygon(_flat(np.concatenate([lower, (lower - up * cover)[::-1]])), fill=skin_rgb)
            # Lash line (upper), lower lid line, lid crease.
            draw.line(_flat(upper), fill=self.lash_rgb, width=max(1, round(0.035 * u)), joint="curve")
            draw.line(_flat(lower), fill=_rgba(skin_shadow, 140), width=line_w, joint="curve")
            crease = self._m_crease @ p[g[crease_name]]
            draw.line(_flat(crease), fill=_rgba(skin_shadow, 120), width=line_w, joint="curve")
            # Under-eye crease and crow's feet with cheek raise / lid tightening.
            under = ev(f"infraorbital_furrow_{side}") + 0.6 * ev(f"cheek_raise_{side}") + 0.3 * ev(f"lid_tighten_{side}")
            if under > 0.05:
                draw.line(_flat(lower[2:-2] - up * 0.07 * u), fill=_rgba(skin_shadow, 170 * min(under, 1.0)),
                          width=line_w, joint="curve")
            crow = ev(f"cheek_raise_{side}")
            if crow > 0.15:
                outer_c = eye_pts[0]
                out_dir = (eye_pts[0] - eye_pts[3]) / max(np.hypot(*(eye_pts[0] - eye_pts[3])), 1e-6)
                a = _rgba(skin_shadow, 150 * min(crow, 1.0))
                for tilt in (-0.6, 0.0, 0.6):
                    start = outer_c + out_dir * 0.04 * u
                    d = out_dir + up * tilt
                    draw.line(_flat(np.array([start, start + d * 0.09 * u])), fill=a, width=line_w)

        # ---- brows (landmarks are the upper edge) ----
        thickness = idt.brow_thickness * u * np.array([0.45, 0.8, 0.95, 1.0, 0.9])
        for brow_sl, outer_first in ((slice(17, 22), True), (slice(22, 27), False)):
            pts = p[brow_sl]
            th = thickness if outer_first else thickness[::-1]
            top = self._m_brow @ pts
            bottom = self._m_brow @ (pts - up[None] * th[:, None])
            draw.polygon(_flat(np.concatenate([top, bottom[::-1]])), fill=self.brow_rgb)

        # ---- nose ----
        nose_shadow = _rgba(skin_shadow, 90)
        draw.line(_flat(np.array([p[27] - right * 0.07 * u, p[29] - right * 0.09 * u, p[30] - right * 0.1 * u])),
                  fill=_rgba(skin_shadow, 45), width=line_w * 2, joint="curve")
        flare = 0.5 * (ev("nostril_flare_l") + ev("nostril_flare_r"))
        for k, (wing, base) in enumerate(((31, 32), (35, 34))):
            ala = p[g["ala"]][k]
            draw.line(_flat(np.array([ala + up * 0.05 * u, ala - up * 0.03 * u + (p[wing] - ala) * 0.3, p[wing]])),
                      fill=nose_shadow, width=line_w, joint="curve")
            nc = 0.5 * (p[wing] + p[base]) + up * 0.035 * u
            nr = (0.045 + 0.02 * flare) * u
            draw.ellipse([nc[0] - nr, nc[1] - 0.55 * nr, nc[0] + nr, nc[1] + 0.55 * nr], fill=_rgba((60, 35, 30), 170))
        draw.line(_flat(p[31:36]), fill=nose_shadow, width=line_w, joint="curve")
        tip = p[30]
        tr = 0.06 * u
        draw.ellipse([tip[0] - tr, tip[1] - tr, tip[0] + tr, tip[1] + tr], fill=_rgba((255, 255, 255), 18))

        # ---- chin (AU17 mentolabial sulcus and dimpling) ----
        chin_raise = max(ev("chin_raise"), 0.0)
        chin_pt = p[g["chin"]][0]
        sulcus = 0.5 * (p[57] + chin_pt)
        half = right * 0.16 * u
        draw.line(_flat(np.array([sulcus - half, sulcus - up * 0.02 * u, sulcus + half])),
                  fill=_rgba(skin_shadow, 30 + 140 * min(chin_raise, 1.0)), width=line_w, joint="curve")
        if chin_raise > 0.1:
            r = 0.11 * u
            draw.ellipse([chin_pt[0] - r, chin_pt[1] - 0.7 * r, chin_pt[0] + r, chin_pt[1] + 0.7 * r],
                         fill=_rgba(skin_shadow, 70 * min(chin_raise, 1.0)))

        # ---- mouth ----
        outer_lips = self._m_outer_lips @ p[48:60]
        draw.polygon(_flat(outer_lips), fill=self.lip_lower)
        inner_upper = self._m_lip_line @ p[[60, 61, 62, 63, 64]]
        inner_lower = self._m_lip_line @ p[[60, 67, 66, 65, 64]]
        upper_lip = np.concatenate([p[48:55], inner_upper[::-1]])
        draw.polygon(_flat(upper_lip), fill=self.lip_upper)
        gap = np.einsum("nd,d->n", inner_upper - inner_lower, up)  # opening along "up", canvas pixels
        if gap.max() > 0.6:
            interior = np.concatenate([inner_upper, inner_lower[::-1]])
            draw.polygon(_flat(interior), fill=(66, 28, 32))
            # Tongue: a band above the lower lip.
            tongue_h = np.minimum(gap, 0.09 * u)
            tongue_top = inner_lower + up * tongue_h[:, None] * 0.9
            draw.polygon(_flat(np.concatenate([tongue_top, inner_lower[::-1]])), fill=(170, 72, 80))
            # Teeth: edges fixed to skull (upper) and jaw (lower); visible part clipped by the lips.
            # Visible heights (canvas rows): upper teeth from the upper lip down to their edge, lower
            # teeth from the lower lip up to theirs, never beyond the opening.
            h_upper_teeth = np.clip(np.minimum(self._edge_y(inner_upper, p[g["teeth_upper"]]) - inner_upper[:, 1], gap), 0, None)
            h_lower_teeth = np.clip(np.minimum(inner_lower[:, 1] - self._edge_y(inner_lower, p[g["teeth_lower"]]), gap), 0, None)
            teeth_rgb = (236, 232, 220)
            if h_upper_teeth.max() > 0.5:
                bottom = inner_upper - up * h_upper_teeth[:, None]
                draw.polygon(_flat(np.concatenate([inner_upper, bottom[::-1]])), fill=teeth_rgb)
            if h_lower_teeth.max() > 0.5:
                top = inner_lower + up * h_lower_teeth[:, None]
                draw.polygon(_flat(np.concatenate([top, inner_lower[::-1]])), fill=_shade(teeth_rgb, 0.93))
        # The line where the lips meet, and the mouth corners.
        draw.line(_flat(inner_upper), fill=_rgba((70, 25, 30), 170), width=line_w, joint="curve")
        for corner, inner_corner in ((48, 60), (54, 64)):
            d = p[corner] - p[inner_corner]
            draw.line(_flat(np.array([p[inner_corner], p[corner] + d * 0.35])), fill=_rgba((80, 35, 35), 140), width=line_w)
        # Lower-lip highlight.
        hl_c = 0.5 * (p[57] + p[66])
        hw = 0.12 * u
        draw.ellipse([hl_c[0] - hw, hl_c[1] - 0.3 * hw, hl_c[0] + hw, hl_c[1] + 0.3 * hw], fill=(255, 255, 255, 22))

        if mark:
            half = (self.supersample - 1) / 2.0
            for x, y in p[:N_LANDMARKS]:
                draw.rectangle([round(x - half), round(y - half), round(x - half) + self.supersample - 1,
                                round(y - half) + self.supersample - 1], fill=MARKER_RGB)
        return img

    @staticmethod
    def _edge_y(lip_line: np.ndarray, edge_pts: np.ndarray) -> np.ndarray:
        """Canvas row of a teeth edge (3 points, linearly interpolated) at each lip-line sample's column."""
        order = np.argsort(edge_pts[:, 0])
        return np.interp(lip_line[:, 0], edge_pts[order, 0], edge_pts[order, 1])


def render_reference_frame(identity: Identity, image_size: int = 128) -> np.ndarray:
    """The identity's neutral, frontal face (H, W, 3) uint8: the reference image for evaluation."""
    frames, _ = FaceRenderer(identity, image_size).render(np.zeros((1, EXPRESSION_DIM), np.float32),
                                                          np.zeros((1, POSE_DIM), np.float32))
    return frames[0]


class Renderer(Protocol):
    """Turns an expression sequence into video of the person in ``reference_image``.

    ``expression`` is (T, 64) in the layout of ``talkclip.expression``; ``pose`` is (T, 6)
    [yaw, pitch, roll, tx, ty, tz] or the processed dataset's (T, 9) (extra crop columns, which a
    PIRenderer uses and the embedded renderer ignores). Returns (T, H, W, 3) uint8. A PIRenderer
    checkpoint (73-d input: expression, angles, translation, crop) can implement this for real data.
    """

    def render_sequence(self, reference_image: np.ndarray, expression: np.ndarray, pose: np.ndarray) -> np.ndarray:
        ...


class EmbeddedRenderer:
    """``Renderer`` for embedded-corpus speakers: the identity is known, so the reference image only
    has to match its size (the face itself is drawn from the identity)."""

    def __init__(self, identity: Identity, image_size: int = 128) -> None:
        self.face_renderer = FaceRenderer(identity, image_size)
        self.image_size = image_size

    def render_sequence(self, reference_image: np.ndarray, expression: np.ndarray, pose: np.ndarray) -> np.ndarray:
        ref = np.asarray(reference_image)
        if ref.ndim != 3 or ref.shape[2] != 3:
            raise ValueError(f"EmbeddedRenderer: reference_image must be (H, W, 3), got {ref.shape}")
        if ref.shape[:2] != (self.image_size, self.image_size):
            raise ValueError(f"EmbeddedRenderer: reference_image is {ref.shape[:2]}, renderer draws "
                             f"{self.image_size}x{self.image_size}")
        pose_arr = np.asarray(pose, dtype=np.float32)
        if pose_arr.ndim != 2 or pose_arr.shape[1] not in (POSE_DIM, 9):
            raise ValueError(f"EmbeddedRenderer: pose must be (T, 6) or (T, 9), got {pose_arr.shape}")
        frames, _ = self.face_renderer.render(expression, pose_arr[:, :POSE_DIM])
        return frames
