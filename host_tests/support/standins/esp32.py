"""Stand-in for the esp32 module of the original ESP32 (which has raw_temperature(), in Fahrenheit)."""


def raw_temperature():
    return 113  # 45 degrees C
