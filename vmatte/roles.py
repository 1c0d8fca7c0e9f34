"""The output roles a run can write, and what each is made of: a leaf module (no imports), so that the
dispatcher, one-clip conversion, photos and scale-out all read one table.

rgba: straight alpha with the predicted foreground colour; matte: alpha alone; composite: the person over a
background; foreground: the predicted foreground colour, no alpha."""

LAYOUT = {"rgba": "rgba", "matte": "gray", "composite": "rgb", "foreground": "rgb"}  # role -> pixels it makes
ROLES = tuple(LAYOUT)
DEFAULT_EXT = {"rgba": ".mov", "matte": ".mkv", "composite": ".mp4", "foreground": ".mp4"}  # a video's, by role
SHORTHAND = {".mov": "rgba", ".webm": "rgba", ".mp4": "composite", ".mkv": "composite", ".png": "rgba"}  # -o EXT
