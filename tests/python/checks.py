"""What the script tests share: check() records a failed expectation with its message and goes
on, so one run reports every failure; finish() prints how many failed and returns the exit
status for sys.exit (ctest reads it).

    from checks import check, finish
    check(value == 3, f"value is {value} (3)")
    return finish()
"""

failures = []
# Whether passing checks are printed too ("ok    ..."); scripts with thousands of checks turn
# it off and print only failures.
show_passes = True


def check(cond, msg):
    """Records `msg` as a failure when `cond` is false; prints it (and passes when shown)."""
    if cond:
        if show_passes:
            print("ok    " + msg)
        return
    print("FAIL  " + msg)
    failures.append(msg)


def finish():
    """Prints the failure count when there were failures; returns 1 if any, else 0."""
    if failures:
        print(f"{len(failures)} checks failed")
        return 1
    return 0
