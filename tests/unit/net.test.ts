import { ipv4ToNumber, isIPv4, isNetworkOrBroadcast, numberToIpv4, parseCidr, sameSubnet, subnetOf } from "../../core/net";

test("IPv4 parsing", () => {
    for (const ok of ["0.0.0.0", "10.0.0.1", "255.255.255.255", "172.51.216.81"]) expect(isIPv4(ok)).toBe(true);
    for (const bad of ["10.0.0.300", "10.0.0", "10.0.0.1.2", "010.0.0.1", " 10.0.0.1", "a.b.c.d", "1e1.0.0.1", ""]) {
        expect(isIPv4(bad)).toBe(false);
    }
    expect(ipv4ToNumber("255.255.255.255")).toBe(0xffffffff);
    expect(numberToIpv4(ipv4ToNumber("172.51.216.81")!)).toBe("172.51.216.81");
});

test("subnets", () => {
    expect(subnetOf("172.51.216.81", 24)).toBe("172.51.216.0/24");
    expect(subnetOf("172.51.216.81", 32)).toBe("172.51.216.81/32");
    expect(subnetOf("200.1.2.3", 1)).toBe("128.0.0.0/1");
    expect(sameSubnet("10.0.0.1", "10.0.0.254", 24)).toBe(true);
    expect(sameSubnet("10.0.0.1", "10.0.1.1", 24)).toBe(false);
    expect(sameSubnet("10.0.0.1", "10.0.1.1", 16)).toBe(true);
    expect(isNetworkOrBroadcast("10.0.0.255", 24)).toBe(true);
    expect(isNetworkOrBroadcast("10.0.0.0", 24)).toBe(true);
    expect(isNetworkOrBroadcast("10.0.0.5", 24)).toBe(false);
    expect(isNetworkOrBroadcast("10.0.0.5", 32)).toBe(false);
});

test("CIDRs", () => {
    expect(parseCidr("10.0.0.0/8")).toEqual({ network: "10.0.0.0", prefix: 8 });
    expect(parseCidr("0.0.0.0/0")).toEqual({ network: "0.0.0.0", prefix: 0 });
    expect(parseCidr("10.1.2.3/32")).toEqual({ network: "10.1.2.3", prefix: 32 });
    for (const bad of ["10.0.0.1/24", "10.0.0.0/33", "10.0.0.0", "10.0.0.0/08", "10.0.0.0/-1", "x/8"]) expect(parseCidr(bad)).toBeUndefined();
});
