# lwip32 (firmware/lwip/, the unix port with the boards' lwIP socket): frozen32's modules plus this
# build's network module (the Pico W's WLAN over the TAP netif, firmware/lwip/network.py).
include("unix.py")
module("network.py", base_path="lwip")
