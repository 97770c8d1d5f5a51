"""The published numbers of the thesis chapter "A Faster ScatterNet" (F. Cotter, PhD thesis, University of
Cambridge: Tables 1.3 and 1.4), which reports compare against."""

# Table 1.3, final version: top-1 % (and training hours on one GTX 1080).
TABLE13 = {
    ("morlet8", "cifar10"): 88.6, ("morlet8", "cifar100"): 65.3, ("morlet8", "tiny_imagenet"): 57.6,
    ("morlet6", "cifar10"): 89.1, ("morlet6", "cifar100"): 65.7, ("morlet6", "tiny_imagenet"): 57.5,
    ("dtcwt", "cifar10"): 89.8, ("dtcwt", "cifar100"): 66.2, ("dtcwt", "tiny_imagenet"): 57.3,
}
TABLE13_HOURS = {
    ("morlet8", "cifar10"): 3.4, ("morlet8", "cifar100"): 3.4, ("morlet8", "tiny_imagenet"): 5.6,
    ("morlet6", "cifar10"): 2.4, ("morlet6", "cifar100"): 2.4, ("morlet6", "tiny_imagenet"): 4.4,
    ("dtcwt", "cifar10"): 1.1, ("dtcwt", "cifar100"): 1.1, ("dtcwt", "tiny_imagenet"): 2.7,
}
# The thesis' chosen DTCWT setting (Table 1.3's) and the Table 1.4 grid are the front ends' own options:
# scatnet/frontends/options.py.
