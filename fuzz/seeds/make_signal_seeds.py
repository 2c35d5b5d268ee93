#!/usr/bin/env python3
"""Writes the tcf_decode and gpp_decode seed inputs: the strings of
consent-signals' fixtures, one file each, plus each tcfeuv2 section of the GPP
fixtures as a TC string. Run from this directory: python3 make_signal_seeds.py"""

import json
import os

FIXTURES = os.path.join("..", "..", "services", "consent-signals", "tests", "fixtures")


def write(target, name, text):
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, name), "w") as out:
        out.write(text)


def main():
    with open(os.path.join(FIXTURES, "tcf.json")) as f:
        for fixture in json.load(f):
            write("tcf_decode", fixture["name"], fixture["string"])
    with open(os.path.join(FIXTURES, "gpp.json")) as f:
        for fixture in json.load(f):
            write("gpp_decode", fixture["name"], fixture["string"])
            texts = fixture["string"].split("~")[1:]
            for section, text in zip(fixture["expected"]["sections"], texts):
                if section["name"] == "tcfeuv2":
                    write("tcf_decode", fixture["name"] + "_tcfeuv2", text)


if __name__ == "__main__":
    main()
